package store

// EncodeCursor is the pagination cursor that continues a list after the
// document lastID, in the format every list of the store issues.
func EncodeCursor(lastID string) string { return encodeCursor(lastID) }

// DecodeCursor returns the last _id a cursor stands for; ErrBadCursor when
// the store did not issue it.
func DecodeCursor(cursor string) (string, error) { return decodeCursor(cursor) }
