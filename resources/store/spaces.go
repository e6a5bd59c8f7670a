package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Space types (seed 000 §1.3). Personal spaces are implicit, one per user,
// and never stored.
const (
	SpacePersonal = "personal"
	SpaceShared   = "shared"
	SpaceManaged  = "managed"
)

// Member is a user or group with roles in a space.
type Member struct {
	Type  string   `bson:"type" json:"type"` // "user" or "group"
	ID    string   `bson:"id" json:"id"`
	Roles []string `bson:"roles" json:"roles"`
}

// Space is a shared or managed space.
type Space struct {
	ID          string    `bson:"_id" json:"id"`
	Name        string    `bson:"name" json:"name"`
	NameKey     string    `bson:"nameKey" json:"-"`
	Type        string    `bson:"type" json:"type"`
	Description string    `bson:"description" json:"description"`
	OwnerID     string    `bson:"ownerId" json:"ownerId"`
	Members     []Member  `bson:"members" json:"members"`
	MemberIDs   []string  `bson:"memberIds" json:"-"` // flat ids of Members, for $in queries
	Deleting    bool      `bson:"deleting,omitempty" json:"-"`
	CreatedAt   time.Time `bson:"createdAt" json:"createdAt"`
	UpdatedAt   time.Time `bson:"updatedAt" json:"updatedAt"`
	Version     int64     `bson:"version" json:"version"`
}

// RolesOf returns the union of the roles that the user and the groups hold
// in the space as members, plus "owner" for the space owner (seed 000
// §6.7: the highest of individual and group permission applies, which the
// policy derives from the union).
func (s *Space) RolesOf(userID string, groupIDs []string) []string {
	var roles []string
	if s.OwnerID == userID {
		roles = append(roles, "owner")
	}
	for _, m := range s.Members {
		if (m.Type == "user" && m.ID == userID) || (m.Type == "group" && contains(groupIDs, m.ID)) {
			for _, r := range m.Roles {
				if !contains(roles, r) {
					roles = append(roles, r)
				}
			}
		}
	}
	return roles
}

// Spaces is the repository of spaces.
type Spaces struct {
	c   collection[Space]
	rev *Changes
}

// SpaceFilter narrows a space list.
type SpaceFilter struct {
	Type string
	// VisibleTo, when set, keeps the spaces owned by or shared with any of
	// these ids (a user id and their group ids).
	VisibleTo []string
}

// Create stores a new space; ErrConflict when the name is taken (any case).
func (r *Spaces) Create(ctx context.Context, s *Space) error {
	now := time.Now().UTC()
	if s.ID == "" {
		s.ID = NewID()
	}
	s.NameKey = strings.ToLower(s.Name)
	if s.Members == nil {
		s.Members = []Member{}
	}
	s.MemberIDs = memberIDs(s.Members)
	s.CreatedAt, s.UpdatedAt, s.Version = now, now, 1
	if err := r.c.insert(ctx, s); err != nil {
		return fmt.Errorf("create space %q: %w", s.Name, err)
	}
	return r.rev.changed(ctx, AreaSpaces, s.ID)
}

// Get returns the space with id; a space being deleted is not found.
func (r *Spaces) Get(ctx context.Context, id string) (*Space, error) {
	// By _id alone (the embedded server's index), then the mark.
	s, err := r.c.byID(ctx, id)
	if err == nil && s.Deleting {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("space %q: %w", id, err)
	}
	return s, nil
}

// List returns one page of spaces matching f.
func (r *Spaces) List(ctx context.Context, f SpaceFilter, p Page) ([]Space, string, error) {
	return r.c.page(ctx, f.bson(), p)
}

// ForMember returns every space that ids (a user id and their group ids)
// own or belong to; used to compute a subject's space roles.
func (r *Spaces) ForMember(ctx context.Context, userID string, groupIDs []string) ([]Space, error) {
	return r.c.find(ctx, SpaceFilter{VisibleTo: append([]string{userID}, groupIDs...)}.bson())
}

func (f SpaceFilter) bson() bson.D {
	filter := notDeleting()
	if f.Type != "" {
		filter = append(filter, bson.E{Key: "type", Value: f.Type})
	}
	if f.VisibleTo != nil {
		in := bson.D{{Key: "$in", Value: f.VisibleTo}}
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "ownerId", Value: in}},
			bson.D{{Key: "memberIds", Value: in}},
		}})
	}
	return filter
}

// SpaceChange is a compare-and-swap update of a space at Version.
type SpaceChange struct {
	Version     int64
	Name        *string
	Description *string
	OwnerID     *string
	Members     []Member // nil: unchanged
}

// Update applies ch; ErrConflict when the version moved on or the new name
// is taken, ErrNotFound when there is no such space.
func (r *Spaces) Update(ctx context.Context, id string, ch SpaceChange) (*Space, error) {
	set := bson.D{}
	if ch.Name != nil {
		set = append(set, bson.E{Key: "name", Value: *ch.Name}, bson.E{Key: "nameKey", Value: strings.ToLower(*ch.Name)})
	}
	if ch.Description != nil {
		set = append(set, bson.E{Key: "description", Value: *ch.Description})
	}
	if ch.OwnerID != nil {
		set = append(set, bson.E{Key: "ownerId", Value: *ch.OwnerID})
	}
	if ch.Members != nil {
		set = append(set, bson.E{Key: "members", Value: ch.Members}, bson.E{Key: "memberIds", Value: memberIDs(ch.Members)})
	}
	s, err := r.c.updateVersion(ctx, id, ch.Version, func(s *Space) bool { return !s.Deleting }, set)
	if err != nil {
		return nil, fmt.Errorf("update space %q: %w", id, err)
	}
	if err := r.rev.changed(ctx, AreaSpaces, id); err != nil {
		return nil, err
	}
	return s, nil
}

// Delete removes a space and its apps without a transaction: the space is
// first marked (it disappears from reads at once), then its apps are
// deleted, then the space itself. Each step is idempotent, so a crash
// half-way leaves a marked space that SweepDeleted finishes.
func (r *Spaces) Delete(ctx context.Context, apps *Apps, id string) error {
	// By _id alone (the embedded server decodes every space for any other
	// filter): marking a space twice is harmless, the rest is idempotent.
	_, err := r.c.update(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "deleting", Value: true}}}})
	if err != nil {
		return fmt.Errorf("delete space %q: %w", id, err)
	}
	// The marked space leaves the live set at once: log it before the rest.
	if err := r.rev.changed(ctx, AreaSpaces, id); err != nil {
		return err
	}
	return r.finishDelete(ctx, apps, id)
}

func (r *Spaces) finishDelete(ctx context.Context, apps *Apps, id string) error {
	if err := apps.deleteInSpace(ctx, id); err != nil {
		return fmt.Errorf("delete apps of space %q: %w", id, err)
	}
	if err := r.c.deleteByID(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete space %q: %w", id, err)
	}
	return nil
}

// SweepDeleted finishes the deletion of every space marked as deleting;
// run at start-up. It returns how many it finished.
func (r *Spaces) SweepDeleted(ctx context.Context, apps *Apps) (int, error) {
	marked, err := r.c.find(ctx, bson.D{{Key: "deleting", Value: true}})
	if err != nil {
		return 0, err
	}
	for _, s := range marked {
		if err := r.finishDelete(ctx, apps, s.ID); err != nil {
			return 0, err
		}
	}
	return len(marked), nil
}

func memberIDs(ms []Member) []string {
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// notDeleting keeps the spaces that are not marked for deletion.
func notDeleting() bson.D {
	return bson.D{{Key: "deleting", Value: bson.D{{Key: "$ne", Value: true}}}}
}

// SpaceOverview is the Overview tab of the console's spaces section (seed
// 000 §1.3, §6.8): how many shared and managed spaces there are and when
// the latest was created (nil when there is none).
type SpaceOverview struct {
	Shared          int64      `json:"shared"`
	Managed         int64      `json:"managed"`
	LatestCreatedAt *time.Time `json:"latestCreatedAt"`
}

// Overview counts the spaces by type and finds the latest creation date.
func (r *Spaces) Overview(ctx context.Context) (*SpaceOverview, error) {
	var o SpaceOverview
	for typ, n := range map[string]*int64{SpaceShared: &o.Shared, SpaceManaged: &o.Managed} {
		c, err := r.c.count(ctx, SpaceFilter{Type: typ}.bson())
		if err != nil {
			return nil, fmt.Errorf("count %s spaces: %w", typ, err)
		}
		*n = c
	}
	latest, err := r.c.find(ctx, notDeleting(),
		options.Find().SetSort(bson.D{{Key: "createdAt", Value: -1}}).SetLimit(1))
	if err != nil {
		return nil, fmt.Errorf("latest space: %w", err)
	}
	if len(latest) == 1 {
		t := latest[0].CreatedAt.UTC()
		o.LatestCreatedAt = &t
	}
	return &o, nil
}

// Count returns how many spaces match f.
func (r *Spaces) Count(ctx context.Context, f SpaceFilter) (int64, error) {
	return r.c.count(ctx, f.bson())
}

// Live returns every space that is not being deleted.
func (r *Spaces) Live(ctx context.Context) ([]Space, error) {
	return r.c.find(ctx, notDeleting())
}
