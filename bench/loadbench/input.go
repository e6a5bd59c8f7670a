package main

// Request bodies, assembled from parts encoded once (the subject's id or
// hydrated JSON, the item's action and resource) by appending them to a
// buffer the caller reuses: no encoding and no allocation per request.

// rulekeeperBody: POST /authz/check by reference (subject id, resource by
// type and id), the way external services ask.
func rulekeeperBody(dst []byte, w *workload, s, i int) []byte {
	it := &w.Items[i]
	dst = append(dst, `{"subject":{"id":`...)
	dst = append(dst, w.SubjectIDs[s]...)
	dst = append(dst, `},"action":`...)
	dst = append(dst, it.Action...)
	dst = append(dst, `,"resource":`...)
	dst = append(dst, it.Request...)
	return append(dst, `,"context":{"environment":"hub"}}`...)
}

// opaBody: POST /v1/data/rulekeeper/authz/decision with the hydrated input.
func opaBody(dst []byte, w *workload, s, i int) []byte {
	it := &w.Items[i]
	dst = append(dst, `{"input":{"subject":`...)
	dst = append(dst, w.SubjectJSON[s]...)
	dst = append(dst, `,"action":`...)
	dst = append(dst, it.Action...)
	dst = append(dst, `,"resource":`...)
	dst = append(dst, it.Hydrated...)
	return append(dst, `,"context":{"environment":"hub"}}}`...)
}
