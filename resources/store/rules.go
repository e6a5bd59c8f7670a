package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Rule types (seed 004): default rules ship with the product and become
// custom when edited; read-only rules cannot be edited or deleted.
const (
	RuleDefault  = "default"
	RuleReadOnly = "readonly"
	RuleCustom   = "custom"
)

// Rule is a QMC-style security rule (DESIGN.md "Security rules").
type Rule struct {
	ID             string    `bson:"_id" json:"id" yaml:"id"`
	Name           string    `bson:"name" json:"name" yaml:"name"`
	Description    string    `bson:"description" json:"description" yaml:"description,omitempty"`
	ResourceFilter string    `bson:"resourceFilter" json:"resourceFilter" yaml:"resourceFilter"`
	Condition      string    `bson:"condition" json:"condition" yaml:"condition"`
	Actions        []string  `bson:"actions" json:"actions" yaml:"actions"`
	Context        string    `bson:"context" json:"context" yaml:"context"`
	Disabled       bool      `bson:"disabled" json:"disabled" yaml:"disabled,omitempty"`
	Type           string    `bson:"type" json:"type" yaml:"type,omitempty"`
	Version        int64     `bson:"version" json:"version" yaml:"-"`
	CreatedAt      time.Time `bson:"createdAt" json:"createdAt" yaml:"-"`
	UpdatedAt      time.Time `bson:"updatedAt" json:"updatedAt" yaml:"-"`
	UpdatedBy      string    `bson:"updatedBy" json:"updatedBy" yaml:"-"`
}

// Rules is the repository of security rules and of the rules revision.
type Rules struct {
	c  collection[Rule]
	db *mongo.Database
}

func ruleIndexes() map[string][]mongo.IndexModel {
	return map[string][]mongo.IndexModel{
		"rules": {plain(bson.D{{Key: "disabled", Value: 1}})},
		// Declared so that the collection exists at start-up, when the
		// embedded database's _id index is added to every table.
		"rulechanges": {plain(bson.D{{Key: "revision", Value: 1}})},
	}
}

// setLock is the database lock that orders a compare-and-swap of one rule
// (Replace) against the bulk writes of an import (PutMany), which write
// without the rules' own locks.
const setLock = "rules-set"

// Create stores a new rule at version 1.
func (r *Rules) Create(ctx context.Context, rule *Rule) error {
	now := time.Now().UTC()
	if rule.ID == "" {
		rule.ID = NewID()
	}
	rule.CreatedAt, rule.UpdatedAt, rule.Version = now, now, 1
	if rule.Actions == nil {
		rule.Actions = []string{}
	}
	if err := r.c.insert(ctx, rule); err != nil {
		return fmt.Errorf("create rule %q: %w", rule.Name, err)
	}
	return nil
}

// Get returns the rule with id.
func (r *Rules) Get(ctx context.Context, id string) (*Rule, error) {
	rule, err := r.c.byID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("rule %q: %w", id, err)
	}
	return rule, nil
}

// List returns one page of rules.
func (r *Rules) List(ctx context.Context, p Page) ([]Rule, string, error) {
	return r.c.page(ctx, bson.D{}, p)
}

// All returns every rule in id order.
func (r *Rules) All(ctx context.Context) ([]Rule, error) {
	return r.c.find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
}

// Replace overwrites the rule id if it is still at version; ErrConflict
// when somebody changed it first.
func (r *Rules) Replace(ctx context.Context, id string, version int64, rule *Rule) (*Rule, error) {
	set := bson.D{
		{Key: "name", Value: rule.Name}, {Key: "description", Value: rule.Description},
		{Key: "resourceFilter", Value: rule.ResourceFilter}, {Key: "condition", Value: rule.Condition},
		{Key: "actions", Value: rule.Actions}, {Key: "context", Value: rule.Context},
		{Key: "disabled", Value: rule.Disabled}, {Key: "type", Value: rule.Type}, {Key: "updatedBy", Value: rule.UpdatedBy},
	}
	unlock, err := r.c.locks.Acquire(ctx, setLock)
	if err != nil {
		return nil, fmt.Errorf("replace rule %q: %w", id, err)
	}
	defer unlock()
	// Every compare-and-swap of a rule holds setLock: the rule's own
	// lock would only add two round trips.
	out, err := r.c.updateVersionHeld(ctx, id, version, nil, set)
	if err != nil {
		return nil, fmt.Errorf("replace rule %q: %w", id, err)
	}
	return out, nil
}

// Put writes rule as it is (insert or overwrite by id); for imports.
func (r *Rules) Put(ctx context.Context, rule *Rule) error {
	_, err := r.c.c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: rule.ID}}, rule, options.Replace().SetUpsert(true))
	return MapErr(err)
}

// PutMany writes rules as they are (insert or overwrite by id): the ones
// stored are deleted in one command and all inserted in batches, so an
// import of thousands of rules costs a few round trips, not one (filtered,
// on the embedded database a whole-collection scan) per rule. On error
// some rules may be written or deleted; the caller undoes.
func (r *Rules) PutMany(ctx context.Context, rules []Rule) error {
	unlock, err := r.c.locks.Acquire(ctx, setLock)
	if err != nil {
		return fmt.Errorf("write %d rules: %w", len(rules), err)
	}
	defer unlock()
	ids := make([]string, len(rules))
	docs := make([]any, len(rules))
	for i := range rules {
		ids[i], docs[i] = rules[i].ID, &rules[i]
	}
	if _, err := r.c.c.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}); err != nil {
		return MapErr(err)
	}
	const batch = 1000
	for i := 0; i < len(docs); i += batch {
		if _, err := r.c.c.InsertMany(ctx, docs[i:min(i+batch, len(docs))]); err != nil {
			return MapErr(err)
		}
	}
	return nil
}

// Delete removes the rule id.
func (r *Rules) Delete(ctx context.Context, id string) error {
	if err := r.c.deleteByID(ctx, id); err != nil {
		return fmt.Errorf("delete rule %q: %w", id, err)
	}
	return nil
}

// Revision returns the rules revision (0 before the first change).
func (r *Rules) Revision(ctx context.Context) (int64, error) {
	var doc struct {
		Revision int64 `bson:"revision"`
	}
	err := r.db.Collection("tenant").FindOne(ctx, bson.D{{Key: "_id", Value: "rules-revision"}}).Decode(&doc)
	if err != nil {
		if err := MapErr(err); err == ErrNotFound {
			return 0, nil
		}
		return 0, err
	}
	return doc.Revision, nil
}

// RuleChange is one entry of the rules change log: the rules revision
// Revision changed the rules RuleIDs (stored or deleted: read them to
// know), or with All any number of them (an import). Entries are kept by
// revision ("<revision>" as _id, a point lookup on every backend), so a
// replica that holds revision n learns what n+1..m changed without reading
// the rule set.
type RuleChange struct {
	ID       string   `bson:"_id"`
	Revision int64    `bson:"revision"`
	RuleIDs  []string `bson:"ruleIds"`
	All      bool     `bson:"all"`
}

// KeepChanges is how many entries of the rules change log are kept: a
// replica further behind reads the whole rule set.
const KeepChanges = 1000

func changeID(rev int64) string { return strconv.FormatInt(rev, 10) }

// Bump increments the rules revision after a change of any number of
// rules and returns the new one; every replica polls it and reloads the
// rule set when it moves.
func (r *Rules) Bump(ctx context.Context) (int64, error) {
	return r.bump(ctx, RuleChange{All: true})
}

// BumpRules is Bump after a change of the rules ids only (stored or
// deleted): replicas then read just those rules.
func (r *Rules) BumpRules(ctx context.Context, ids ...string) (int64, error) {
	return r.bump(ctx, RuleChange{RuleIDs: ids})
}

// bump writes the change log entry of the next revision, then the
// revision: a replica that reads revision n finds its entry. Both happen
// under the revision's lock, so revisions are not lost across replicas;
// an entry left by a writer that died before its revision moved is
// overwritten by the next writer. Every step is a lookup by _id.
func (r *Rules) bump(ctx context.Context, ch RuleChange) (int64, error) {
	unlock, err := r.c.locks.Acquire(ctx, "tenant/rules-revision")
	if err != nil {
		return 0, fmt.Errorf("bump the rules revision: %w", err)
	}
	defer unlock()
	cur, err := r.Revision(ctx)
	if err != nil {
		return 0, fmt.Errorf("bump the rules revision: %w", err)
	}
	next := cur + 1
	ch.ID, ch.Revision = changeID(next), next
	if ch.RuleIDs == nil {
		ch.RuleIDs = []string{}
	}
	changes := r.db.Collection("rulechanges")
	if _, err := changes.ReplaceOne(ctx, bson.D{{Key: "_id", Value: ch.ID}}, ch, options.Replace().SetUpsert(true)); err != nil {
		return 0, fmt.Errorf("bump the rules revision: %w", MapErr(err))
	}
	_, err = r.db.Collection("tenant").UpdateOne(ctx, bson.D{{Key: "_id", Value: "rules-revision"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "revision", Value: next}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return 0, fmt.Errorf("bump the rules revision: %w", MapErr(err))
	}
	if old := next - KeepChanges; old > 0 {
		// Best effort: a missed entry only stays behind.
		_, _ = changes.DeleteOne(ctx, bson.D{{Key: "_id", Value: changeID(old)}})
	}
	return next, nil
}

// Changes returns the change log entries of the revisions after..upTo, in
// order; ErrNotFound when one of them is not kept (the caller reads the
// whole rule set instead).
func (r *Rules) Changes(ctx context.Context, after, upTo int64) ([]RuleChange, error) {
	out := make([]RuleChange, 0, max(0, upTo-after))
	changes := r.db.Collection("rulechanges")
	for rev := after + 1; rev <= upTo; rev++ {
		var ch RuleChange
		if err := changes.FindOne(ctx, bson.D{{Key: "_id", Value: changeID(rev)}}).Decode(&ch); err != nil {
			return nil, fmt.Errorf("rules change %d: %w", rev, MapErr(err))
		}
		out = append(out, ch)
	}
	return out, nil
}
