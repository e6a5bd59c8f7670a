package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
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
	// EmailUnverified: the identity provider said email_verified false at
	// the last login. Such an email names nobody in a decision's
	// subject.id and binds no provisioned user; an email set by an admin
	// or SCIM, or by a token without the claim, is taken as given.
	EmailUnverified bool `bson:"emailUnverified,omitempty" json:"emailUnverified,omitempty"`
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
	rev *Changes
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
		if errors.Is(err, ErrConflict) {
			// The subject exists: make sure its lookup does too (a crash
			// between the two inserts leaves a user without one).
			if rerr := r.repairSubject(ctx, u.Subject); rerr != nil {
				return fmt.Errorf("create user %q: %w (and its lookup: %v)", u.Subject, err, rerr)
			}
		}
		return fmt.Errorf("create user %q: %w", u.Subject, err)
	}
	if err := r.putSubject(ctx, u.Subject, u.ID); err != nil {
		return fmt.Errorf("create user %q: %w", u.Subject, err)
	}
	return r.rev.changed(ctx, AreaUsers, u.ID)
}

// The subject lookup: the collection "user_subjects" holds one document
// {_id: subject, userId} per user, written with the user. BySubject (every
// login) is then two reads by _id, which the embedded FerretDB answers from
// its index; a filter on the subject field would decode every user.
type subjectDoc struct {
	Subject string `bson:"_id"`
	UserID  string `bson:"userId"`
}

func (r *Users) subjects() lookup {
	return lookup{c: r.c.c.Database().Collection("user_subjects"), field: "userId"}
}

func (r *Users) putSubject(ctx context.Context, sub, userID string) error {
	return r.subjects().put(ctx, sub, userID)
}

// lookup is a collection of documents {_id: key, <field>: id} that finds a
// document by a unique value other than its _id with reads by _id.
type lookup struct {
	c     *mongo.Collection
	field string
}

func (l lookup) put(ctx context.Context, key, id string) error {
	doc := bson.D{{Key: "_id", Value: key}, {Key: l.field, Value: id}}
	_, err := l.c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: key}}, doc, options.Replace().SetUpsert(true))
	if err != nil && errors.Is(MapErr(err), ErrConflict) {
		// Two upserts of one key at once: both found nothing and one
		// insert lost (E11000). The key exists now; replace it.
		_, err = l.c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: key}}, doc)
	}
	if err != nil {
		return fmt.Errorf("the lookup %s of %q: %w", l.c.Name(), key, err)
	}
	return nil
}

// get returns the id stored under key; ErrNotFound when none.
func (l lookup) get(ctx context.Context, key string) (string, error) {
	raw, err := l.c.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Raw()
	if err != nil {
		return "", MapErr(err)
	}
	id, ok := raw.Lookup(l.field).StringValueOK()
	if !ok {
		return "", fmt.Errorf("the lookup %s of %q has no %s", l.c.Name(), key, l.field)
	}
	return id, nil
}

// repairSubject writes the lookup of sub from the user that has it (a
// query on the subject field: only on the rare path of a conflict).
func (r *Users) repairSubject(ctx context.Context, sub string) error {
	u, err := r.c.get(ctx, bson.D{{Key: "subject", Value: sub}})
	if err != nil {
		return err
	}
	return r.putSubject(ctx, sub, u.ID)
}

// IndexSubjects writes the subject lookup of every user that has none, once
// per database (a marker in the collection "tenant" remembers it): for
// databases written before the lookup existed.
func (r *Users) IndexSubjects(ctx context.Context) error {
	return once(ctx, r.c.c.Database(), "user-subjects", func() error {
		users, err := r.c.find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "subject", Value: 1}}))
		if err != nil {
			return err
		}
		for _, u := range users {
			if err := r.putSubject(ctx, u.Subject, u.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// once runs fn unless the marker name in the collection "tenant" says it
// ran to the end in this database before, and then writes the marker.
func once(ctx context.Context, db *mongo.Database, name string, fn func() error) error {
	tenant := db.Collection("tenant")
	err := tenant.FindOne(ctx, bson.D{{Key: "_id", Value: name}}).Err()
	if err == nil {
		return nil
	}
	if !errors.Is(MapErr(err), ErrNotFound) {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	_, err = tenant.InsertOne(ctx, bson.D{{Key: "_id", Value: name}, {Key: "at", Value: time.Now().UTC()}})
	if err := MapErr(err); err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
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
	id, err := r.subjects().get(ctx, sub)
	if err != nil {
		return nil, fmt.Errorf("user with subject %q: %w", sub, err)
	}
	u, err := r.c.byID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("user with subject %q: %w", sub, err)
	}
	if u.Subject != sub { // a lookup left behind by an interrupted change
		return nil, fmt.Errorf("user with subject %q: %w", sub, ErrNotFound)
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
	u, err := r.c.byID(ctx, id)
	if err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	if err := r.c.deleteByID(ctx, id); err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	if u.Subject != "" {
		if _, err := r.subjects().c.DeleteOne(ctx, bson.D{{Key: "_id", Value: u.Subject}, {Key: "userId", Value: id}}); err != nil {
			return fmt.Errorf("delete user %q: %w", id, err)
		}
	}
	return r.rev.changed(ctx, AreaUsers, id)
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
	Version int64
	Subject *string // binds a provisioned user at their first login
	Name    *string
	Email   *string
	// EmailUnverified goes with Email: set by logins (nil: unchanged; an
	// Email change without it marks the email as given, not unverified).
	EmailUnverified *bool
	UserName        *string
	Aliases         []string // nil: unchanged
	Status          *string
	Roles           []string // nil: unchanged
	IdpRoles        []string // nil: unchanged
	GroupIDs        []string // nil: unchanged
	LastLogin       *time.Time
	Attributes      map[string][]string
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
		set = append(set, bson.E{Key: "emailUnverified", Value: ch.EmailUnverified != nil && *ch.EmailUnverified})
	} else if ch.EmailUnverified != nil {
		set = append(set, bson.E{Key: "emailUnverified", Value: *ch.EmailUnverified})
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
	oldSubject := ""
	if ch.Subject != nil {
		old, err := r.c.byID(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("update user %q: %w", id, err)
		}
		oldSubject = old.Subject
	}
	u, err := r.c.updateVersion(ctx, id, ch.Version, nil, set)
	if err != nil {
		return nil, fmt.Errorf("update user %q: %w", id, err)
	}
	if ch.Subject != nil && *ch.Subject != oldSubject {
		// The subject lookup follows the user (a provisioned user bound
		// at their first login): the new subject first, then the old one.
		if err := r.putSubject(ctx, *ch.Subject, id); err != nil {
			return nil, fmt.Errorf("update user %q: %w", id, err)
		}
		if _, err := r.subjects().c.DeleteOne(ctx, bson.D{{Key: "_id", Value: oldSubject}}); err != nil {
			return nil, fmt.Errorf("update user %q: %w", id, err)
		}
	}
	if err := r.rev.changed(ctx, AreaUsers, id); err != nil {
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
