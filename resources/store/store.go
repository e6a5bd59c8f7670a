package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/rulekeeper/rulekeeper/resources/dbcalls"
)

// Store is the handle on one rulekeeper database and its repositories.
type Store struct {
	client *mongo.Client
	db     *mongo.Database

	Users  *Users
	Groups *Groups
	Spaces *Spaces
	Apps   *Apps

	Events   *Events
	Settings *SettingsRepo
	APIKeys  *APIKeys

	Assignments *Assignments
	LicenseKeys *LicenseKeys

	Objects         *AppObjects
	Schedules       *Schedules
	WebIntegrations *WebIntegrations
	Extensions      *Bundles
	Themes          *Bundles
	Rules           *Rules
	// ResourceTypes and ExternalResources: the external types of the
	// registry and the resources of those types stored here.
	ResourceTypes     *ResourceTypes
	ExternalResources *ExternalResources

	// Changes is the change log every write of the users, groups, spaces
	// and licenses areas appends to (the repositories above do it); the
	// Follower tails it for this process's snapshots.
	Changes  *Changes
	Follower *Follower

	// Staleness is the staleness bound of the snapshots built on this store
	// (DefaultStaleness when 0); set it before building any.
	Staleness time.Duration

	// Locks are the database locks of read-check-write steps (one per
	// document for compare-and-swap, named ones for invariants such as
	// the last tenant admin or license seats).
	Locks *Locks
}

// ConnectTimeout bounds how long Connect waits for an unreachable server.
const ConnectTimeout = 10 * time.Second

// Connect opens the database named dbName on the server at uri, checks that
// the server answers within ConnectTimeout and creates every index.
func Connect(ctx context.Context, uri, dbName string) (*Store, error) {
	if dbName == "" {
		return nil, errors.New("store: database name is empty")
	}
	// Defaults first: what the URI sets (serverSelectionTimeoutMS,
	// connectTimeoutMS, appName) wins.
	opts := options.Client().
		SetServerSelectionTimeout(ConnectTimeout).
		SetConnectTimeout(ConnectTimeout).
		SetAppName("rulekeeper").
		SetMonitor(dbcalls.Monitor()).
		ApplyURI(uri)
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("store: bad MongoDB URI: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	defer cancel()
	if err := client.Ping(pingCtx, readpref.Primary()); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("store: MongoDB at %s is not reachable: %w", Redact(uri), err)
	}
	s := newStore(client, client.Database(dbName))
	if err := s.EnsureIndexes(ctx); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	for _, index := range []func(context.Context) error{s.Users.IndexSubjects, s.Groups.IndexNames, s.APIKeys.IndexHashes} {
		if err := index(ctx); err != nil {
			_ = client.Disconnect(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	return s, nil
}

func newStore(client *mongo.Client, db *mongo.Database) *Store {
	locks := newLocks(db)
	revs := &Changes{c: db.Collection("changes")}
	return &Store{
		client:   client,
		db:       db,
		Locks:    locks,
		Changes:  revs,
		Follower: newFollower(revs),
		Users:    &Users{c: collection[User]{db.Collection("users"), locks}, rev: revs},
		Groups:   &Groups{c: collection[Group]{db.Collection("groups"), locks}, rev: revs},
		Spaces:   &Spaces{c: collection[Space]{db.Collection("spaces"), locks}, rev: revs},
		Apps:     &Apps{c: collection[App]{db.Collection("apps"), locks}},

		Events:   &Events{c: collection[Event]{db.Collection("events"), locks}},
		Settings: &SettingsRepo{c: collection[Settings]{db.Collection("settings"), locks}},
		APIKeys:  &APIKeys{c: collection[APIKey]{db.Collection("apikeys"), locks}},

		Assignments: &Assignments{c: collection[Assignment]{db.Collection("assignments"), locks}, rev: revs},
		LicenseKeys: &LicenseKeys{c: collection[LicenseKey]{db.Collection("licensekeys"), locks}, rev: revs},

		Objects:         &AppObjects{c: collection[AppObject]{db.Collection("objects"), locks}},
		Schedules:       &Schedules{c: collection[Schedule]{db.Collection("schedules"), locks}},
		WebIntegrations: &WebIntegrations{c: collection[WebIntegration]{db.Collection("webintegrations"), locks}},
		Extensions:      newBundles(db, "extensions", locks),
		Themes:          newBundles(db, "themes", locks),
		Rules:           &Rules{c: collection[Rule]{db.Collection("rules"), locks}, db: db, rev: revs},

		ResourceTypes:     &ResourceTypes{c: collection[ResourceType]{db.Collection("resourcetypes"), locks}},
		ExternalResources: &ExternalResources{c: collection[ExternalResource]{db.Collection("extresources"), locks}},
	}
}

// indexes lists every index of every collection, created at start-up.
func indexes() map[string][]mongo.IndexModel {
	all := map[string][]mongo.IndexModel{
		"users": {
			unique(bson.D{{Key: "subject", Value: 1}}),
			plain(bson.D{{Key: "nameKey", Value: 1}}),
			plain(bson.D{{Key: "roles", Value: 1}}),
			// Secondary ids of a decision's subject.id and of SCIM filters.
			// (The embedded FerretDB pushes only _id lookups down; serve
			// answers these from entities.UserIndex in memory.)
			plain(bson.D{{Key: "emailKey", Value: 1}}),
			plain(bson.D{{Key: "userNameKey", Value: 1}}),
			plain(bson.D{{Key: "aliases", Value: 1}}),
			plain(bson.D{{Key: "groupIds", Value: 1}}),
		},
		"groups": {unique(bson.D{{Key: "nameKey", Value: 1}})},
		// Read by _id; the index creates the collection before the
		// embedded server's _id indexes are made (Embedded.IndexIDs).
		"user_subjects":  {plain(bson.D{{Key: "userId", Value: 1}})},
		"group_names":    {plain(bson.D{{Key: "groupId", Value: 1}})},
		"capacitycounts": {plain(bson.D{{Key: "n", Value: 1}})},
		// The change log is read by _id; seq sorts it for its head.
		"changes": {plain(bson.D{{Key: "seq", Value: 1}})},
		"spaces": {
			// Space names are unique in the tenant (seed 000 §1.3), whatever the case.
			unique(bson.D{{Key: "nameKey", Value: 1}}),
			plain(bson.D{{Key: "memberIds", Value: 1}}),
			plain(bson.D{{Key: "ownerId", Value: 1}}),
		},
		"events": {
			plain(bson.D{{Key: "time", Value: 1}}),
			plain(bson.D{{Key: "type", Value: 1}}),
			plain(bson.D{{Key: "userId", Value: 1}}),
		},
		"apikeys": {
			unique(bson.D{{Key: "hash", Value: 1}}),
			plain(bson.D{{Key: "ownerId", Value: 1}}),
		},
		"assignments": {
			plain(bson.D{{Key: "keyId", Value: 1}, {Key: "seq", Value: 1}}),
			plain(bson.D{{Key: "userId", Value: 1}}),
		},
		"apps": {
			plain(bson.D{{Key: "spaceId", Value: 1}}),
			plain(bson.D{{Key: "ownerId", Value: 1}}),
		},
	}
	// Repositories in their own files declare their indexes there.
	for _, more := range []map[string][]mongo.IndexModel{
		objectIndexes(), scheduleIndexes(), webIntegrationIndexes(), bundleIndexes(), ruleIndexes(), licenseKeyIndexes(), reloadIndexes(), typeIndexes(),
	} {
		for coll, models := range more {
			all[coll] = append(all[coll], models...)
		}
	}
	return all
}

func unique(keys bson.D) mongo.IndexModel {
	return mongo.IndexModel{Keys: keys, Options: options.Index().SetUnique(true)}
}

func plain(keys bson.D) mongo.IndexModel { return mongo.IndexModel{Keys: keys} }

// EnsureIndexes creates the missing indexes of every collection. It asks
// for the existing ones first: FerretDB v1.24 on SQLite panics when asked
// again for an index it loaded from disk after a restart.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	for coll, models := range indexes() {
		iv := s.db.Collection(coll).Indexes()
		specs, err := iv.ListSpecifications(ctx)
		if err != nil {
			return fmt.Errorf("store: list indexes of %s: %w", coll, err)
		}
		have := map[string]bool{}
		for _, sp := range specs {
			have[sp.Name] = true
		}
		var missing []mongo.IndexModel
		for _, m := range models {
			if !have[indexName(m.Keys.(bson.D))] {
				missing = append(missing, m)
			}
		}
		if len(missing) == 0 {
			continue
		}
		if _, err := iv.CreateMany(ctx, missing); err != nil {
			return fmt.Errorf("store: create indexes on %s: %w", coll, err)
		}
	}
	return nil
}

// indexName is the name MongoDB gives an index on keys: field_1_other_-1.
func indexName(keys bson.D) string {
	name := ""
	for i, k := range keys {
		if i > 0 {
			name += "_"
		}
		name += fmt.Sprintf("%s_%v", k.Key, k.Value)
	}
	return name
}

// Ping reports whether the server answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.client.Ping(ctx, readpref.Primary())
}

// Database is the underlying database, for packages that add collections of
// their own (and for tests).
func (s *Store) Database() *mongo.Database { return s.db }

// Close disconnects from the server.
func (s *Store) Close(ctx context.Context) error {
	return s.client.Disconnect(ctx)
}

// NewID returns a new document id: a hex ObjectID, so ids sort by creation
// time and make stable pagination cursors.
func NewID() string { return bson.NewObjectID().Hex() }

// Redact returns the scheme and hosts of a MongoDB URI without user name,
// password or options, for log lines and error messages.
func Redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "the configured URI"
	}
	return u.Scheme + "://" + u.Host
}
