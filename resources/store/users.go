package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// User statuses (seed 000 §1.2).
const (
	UserActive   = "active"
	UserDisabled = "disabled"
)

// User is a person known to the tenant, created at their first login or
// provisioned by an admin (API or SCIM) before it.
type User struct {
	ID string `bson:"_id" json:"id"`
	// Subject is the identity provider's subject (`sub`). A user provisioned
	// without one holds PendingSubject+ID until their first login binds it.
	Subject  string `bson:"subject" json:"subject"`
	Name     string `bson:"name" json:"name"`
	NameKey  string `bson:"nameKey" json:"-"`
	Email    string `bson:"email" json:"email"`
	EmailKey string `bson:"emailKey,omitempty" json:"-"` // lower case, indexed
	// UserName is the provisioning client's unique name (SCIM userName);
	// Aliases are further ids other services know the user by. Both, like
	// Subject and Email, name the user in a decision's subject.id.
	UserName    string   `bson:"userName,omitempty" json:"userName,omitempty"`
	UserNameKey string   `bson:"userNameKey,omitempty" json:"-"`
	Aliases     []string `bson:"aliases,omitempty" json:"aliases,omitempty"`
	// Provisioned: created by an admin before any login.
	Provisioned bool     `bson:"provisioned,omitempty" json:"provisioned,omitempty"`
	Status      string   `bson:"status" json:"status"`
	Roles       []string `bson:"roles" json:"roles"`
	// IdpRoles are the roles among Roles that the identity provider's roles
	// claim gave at the last login (re-applied at every login); the others
	// were given in rulekeeper. See RoleSources.
	IdpRoles    []string            `bson:"idpRoles,omitempty" json:"idpRoles,omitempty"`
	GroupIDs    []string            `bson:"groupIds" json:"groupIds"`
	Attributes  map[string][]string `bson:"attributes,omitempty" json:"attributes,omitempty"`
	CreatedAt   time.Time           `bson:"createdAt" json:"createdAt"`
	UpdatedAt   time.Time           `bson:"updatedAt" json:"updatedAt"`
	LastLoginAt time.Time           `bson:"lastLoginAt,omitempty" json:"lastLoginAt,omitzero"`
	Version     int64               `bson:"version" json:"version"`
}

// PendingSubject prefixes the placeholder subject of a provisioned user
// whose identity provider subject is not known yet.
const PendingSubject = "pending:"

// Bound reports whether the user's identity provider subject is known.
func (u *User) Bound() bool { return !strings.HasPrefix(u.Subject, PendingSubject) }

// HasRole reports whether the user holds role.
func (u *User) HasRole(role string) bool {
	for _, r := range u.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Users is the repository of users.
type Users struct {
	c   collection[User]
	rev *Revisions
}

// UserFilter narrows a user list.
type UserFilter struct {
	Query  string // case-insensitive substring of name or email
	Status string
	Role   string
}

// Create stores a new user; ErrConflict when the subject exists.
func (r *Users) Create(ctx context.Context, u *User) error {
	now := time.Now().UTC()
	if u.ID == "" {
		u.ID = NewID()
	}
	if u.Subject == "" {
		u.Subject = PendingSubject + u.ID
	}
	u.NameKey = strings.ToLower(u.Name)
	u.EmailKey = strings.ToLower(u.Email)
	u.UserNameKey = strings.ToLower(u.UserName)
	u.CreatedAt, u.UpdatedAt = now, now
	if u.Status == "" {
		u.Status = UserActive
	}
	u.Roles = nonNil(u.Roles)
	u.GroupIDs = nonNil(u.GroupIDs)
	u.Version = 1
	if err := r.c.insert(ctx, u); err != nil {
		return fmt.Errorf("create user %q: %w", u.Subject, err)
	}
	return r.rev.changed(ctx, AreaUsers)
}

// Get returns the user with id.
func (r *Users) Get(ctx context.Context, id string) (*User, error) {
	u, err := r.c.byID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", id, err)
	}
	return u, nil
}

// BySubject returns the user with the identity provider subject sub.
func (r *Users) BySubject(ctx context.Context, sub string) (*User, error) {
	u, err := r.c.get(ctx, bson.D{{Key: "subject", Value: sub}})
	if err != nil {
		return nil, fmt.Errorf("user with subject %q: %w", sub, err)
	}
	return u, nil
}

// ByEmail returns the users whose email is email (any case), at most two:
// an email names a user only when it is unique.
func (r *Users) ByEmail(ctx context.Context, email string) ([]User, error) {
	return r.c.find(ctx, bson.D{{Key: "emailKey", Value: strings.ToLower(email)}}, options.Find().SetLimit(2))
}

// ByUserName returns the user with the provisioning user name (any case).
func (r *Users) ByUserName(ctx context.Context, name string) (*User, error) {
	u, err := r.c.get(ctx, bson.D{{Key: "userNameKey", Value: strings.ToLower(name)}})
	if err != nil {
		return nil, fmt.Errorf("user with userName %q: %w", name, err)
	}
	return u, nil
}

// ByAlias returns the user with alias.
func (r *Users) ByAlias(ctx context.Context, alias string) (*User, error) {
	u, err := r.c.get(ctx, bson.D{{Key: "aliases", Value: alias}})
	if err != nil {
		return nil, fmt.Errorf("user with alias %q: %w", alias, err)
	}
	return u, nil
}

// InGroup returns the users that belong to the group id.
func (r *Users) InGroup(ctx context.Context, groupID string) ([]User, error) {
	return r.c.find(ctx, bson.D{{Key: "groupIds", Value: groupID}}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
}

// Delete removes the user with id.
func (r *Users) Delete(ctx context.Context, id string) error {
	if err := r.c.deleteByID(ctx, id); err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	return r.rev.changed(ctx, AreaUsers)
}

// List returns one page of users matching f.
func (r *Users) List(ctx context.Context, f UserFilter, p Page) ([]User, string, error) {
	filter := bson.D{}
	if f.Query != "" {
		re := bson.Regex{Pattern: regexp.QuoteMeta(strings.ToLower(f.Query))}
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "nameKey", Value: re}},
			bson.D{{Key: "email", Value: bson.Regex{Pattern: re.Pattern, Options: "i"}}},
		}})
	}
	if f.Status != "" {
		filter = append(filter, bson.E{Key: "status", Value: f.Status})
	}
	if f.Role != "" {
		filter = append(filter, bson.E{Key: "roles", Value: f.Role})
	}
	return r.c.page(ctx, filter, p)
}

// Count returns how many users match filter (nil: all).
func (r *Users) Count(ctx context.Context, f UserFilter) (int64, error) {
	filter := bson.D{}
	if f.Status != "" {
		filter = append(filter, bson.E{Key: "status", Value: f.Status})
	}
	if f.Role != "" {
		filter = append(filter, bson.E{Key: "roles", Value: f.Role})
	}
	return r.c.count(ctx, filter)
}

// UserChange is a compare-and-swap update: it applies only when the stored
// version is still Version.
type UserChange struct {
	Version    int64
	Subject    *string // binds a provisioned user at their first login
	Name       *string
	Email      *string
	UserName   *string
	Aliases    []string // nil: unchanged
	Status     *string
	Roles      []string // nil: unchanged
	IdpRoles   []string // nil: unchanged
	GroupIDs   []string // nil: unchanged
	LastLogin  *time.Time
	Attributes map[string][]string
}

// Update applies ch to the user id. ErrConflict when the version moved on,
// ErrNotFound when there is no such user.
func (r *Users) Update(ctx context.Context, id string, ch UserChange) (*User, error) {
	set := bson.D{}
	if ch.Name != nil {
		set = append(set, bson.E{Key: "name", Value: *ch.Name}, bson.E{Key: "nameKey", Value: strings.ToLower(*ch.Name)})
	}
	if ch.Email != nil {
		set = append(set, bson.E{Key: "email", Value: *ch.Email}, bson.E{Key: "emailKey", Value: strings.ToLower(*ch.Email)})
	}
	if ch.Subject != nil {
		set = append(set, bson.E{Key: "subject", Value: *ch.Subject})
	}
	if ch.UserName != nil {
		set = append(set, bson.E{Key: "userName", Value: *ch.UserName}, bson.E{Key: "userNameKey", Value: strings.ToLower(*ch.UserName)})
	}
	if ch.Aliases != nil {
		set = append(set, bson.E{Key: "aliases", Value: ch.Aliases})
	}
	if ch.Status != nil {
		set = append(set, bson.E{Key: "status", Value: *ch.Status})
	}
	if ch.Roles != nil {
		set = append(set, bson.E{Key: "roles", Value: ch.Roles})
	}
	if ch.IdpRoles != nil {
		set = append(set, bson.E{Key: "idpRoles", Value: ch.IdpRoles})
	}
	if ch.GroupIDs != nil {
		set = append(set, bson.E{Key: "groupIds", Value: ch.GroupIDs})
	}
	if ch.LastLogin != nil {
		set = append(set, bson.E{Key: "lastLoginAt", Value: ch.LastLogin.UTC()})
	}
	if ch.Attributes != nil {
		set = append(set, bson.E{Key: "attributes", Value: ch.Attributes})
	}
	u, err := r.c.updateVersion(ctx, id, ch.Version, nil, set)
	if err != nil {
		return nil, fmt.Errorf("update user %q: %w", id, err)
	}
	if err := r.rev.changed(ctx, AreaUsers); err != nil {
		return nil, err
	}
	return u, nil
}

// All returns every user sorted by name; for small tenants and tests.
func (r *Users) All(ctx context.Context) ([]User, error) {
	return r.c.find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "nameKey", Value: 1}}))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
