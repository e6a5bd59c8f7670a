package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// License types (seed 000 §1.1).
const (
	LicenseProfessional     = "professional"
	LicenseAnalyzer         = "analyzer"
	LicenseAnalyzerCapacity = "analyzer_capacity"
)

// Assignment gives a user an access type under a license key.
type Assignment struct {
	ID         string    `bson:"_id" json:"-"` // keyId + "/" + userId
	KeyID      string    `bson:"keyId" json:"keyId"`
	UserID     string    `bson:"userId" json:"userId"`
	Type       string    `bson:"type" json:"type"`
	AssignedAt time.Time `bson:"assignedAt" json:"assignedAt"`
	Seq        int64     `bson:"seq" json:"-"` // assignment order, for exclusion
}

// Assignments is the repository of license assignments.
type Assignments struct {
	c   collection[Assignment]
	rev *Changes
}

func assignmentID(keyID, userID string) string { return keyID + "/" + userID }

// Get returns the assignment of userID under keyID.
func (r *Assignments) Get(ctx context.Context, keyID, userID string) (*Assignment, error) {
	a, err := r.c.byID(ctx, assignmentID(keyID, userID))
	if err != nil {
		return nil, fmt.Errorf("assignment of %q: %w", userID, err)
	}
	return a, nil
}

// Add assigns typ to userID under keyID; ErrConflict when the user has an
// assignment under that key already (the _id is unique).
func (r *Assignments) Add(ctx context.Context, keyID, userID, typ string) (*Assignment, error) {
	now := time.Now().UTC()
	a := &Assignment{ID: assignmentID(keyID, userID), KeyID: keyID, UserID: userID, Type: typ, AssignedAt: now, Seq: now.UnixNano()}
	if err := r.c.insert(ctx, a); err != nil {
		return nil, fmt.Errorf("assign %s to %q: %w", typ, userID, err)
	}
	if err := r.rev.changed(ctx, AreaLicenses, a.ID); err != nil {
		return nil, err
	}
	return a, nil
}

// SetType changes the access type of an assignment (an upgrade).
func (r *Assignments) SetType(ctx context.Context, keyID, userID, typ string) (*Assignment, error) {
	a, err := r.c.update(ctx, bson.D{{Key: "_id", Value: assignmentID(keyID, userID)}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "type", Value: typ}}}})
	if err != nil {
		return nil, fmt.Errorf("change assignment of %q: %w", userID, err)
	}
	if err := r.rev.changed(ctx, AreaLicenses, a.ID); err != nil {
		return nil, err
	}
	return a, nil
}

// Remove deletes the assignment of userID under keyID.
func (r *Assignments) Remove(ctx context.Context, keyID, userID string) error {
	if err := r.c.deleteByID(ctx, assignmentID(keyID, userID)); err != nil {
		return fmt.Errorf("remove assignment of %q: %w", userID, err)
	}
	return r.rev.changed(ctx, AreaLicenses, assignmentID(keyID, userID))
}

// ForKey returns every assignment under keyID in assignment order.
func (r *Assignments) ForKey(ctx context.Context, keyID string) ([]Assignment, error) {
	return r.c.find(ctx, bson.D{{Key: "keyId", Value: keyID}}, options.Find().SetSort(bson.D{{Key: "seq", Value: 1}, {Key: "_id", Value: 1}}))
}
