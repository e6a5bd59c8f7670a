package store

import (
	"context"
	"fmt"
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
	c   collection[Rule]
	db  *mongo.Database
	rev *Changes
}

// ruleIndexes: no query reads "disabled", but keep the index: without it
// every rule read or write by _id on the embedded FerretDB went through a
// scan of the collection (measured with bench/rulescale at 10,000 rules:
// 208 ms of CPU per rule update or delete instead of 14 ms; the reason,
// somewhere in how FerretDB creates a collection with no index given, was
// not looked into).
func ruleIndexes() map[string][]mongo.IndexModel {
	return map[string][]mongo.IndexModel{
		"rules": {plain(bson.D{{Key: "disabled", Value: 1}})},
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
	// The insert command itself, not InsertMany: the driver's InsertMany
	// decodes every document's _id through a reader of its own (4 KiB of
	// garbage per rule, 40 MB for an import of 10,000).
	const batch = 1000
	for i := 0; i < len(docs); i += batch {
		var res struct {
			N           int `bson:"n"`
			WriteErrors []struct {
				Index  int    `bson:"index"`
				Code   int    `bson:"code"`
				ErrMsg string `bson:"errmsg"`
			} `bson:"writeErrors"`
		}
		part := docs[i:min(i+batch, len(docs))]
		err := r.db.RunCommand(ctx, bson.D{{Key: "insert", Value: r.c.c.Name()}, {Key: "documents", Value: part}, {Key: "ordered", Value: true}}).Decode(&res)
		if err != nil {
			return MapErr(err)
		}
		if len(res.WriteErrors) > 0 || res.N != len(part) {
			if len(res.WriteErrors) > 0 && res.WriteErrors[0].Code == 11000 {
				return fmt.Errorf("write %d rules: %w: %s", len(rules), ErrConflict, res.WriteErrors[0].ErrMsg)
			}
			return fmt.Errorf("write %d rules: %d of %d inserted: %+v", len(rules), res.N, len(part), res.WriteErrors)
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

// Bump increments the rules revision after a change of any number of
// rules and returns the new one; the change log tells every replica, which
// then reads the whole rule set.
func (r *Rules) Bump(ctx context.Context) (int64, error) {
	return r.bump(ctx, nil)
}

// BumpRules is Bump after a change of the rules ids only (stored or
// deleted): replicas then read just those rules.
func (r *Rules) BumpRules(ctx context.Context, ids ...string) (int64, error) {
	if len(ids) == 0 {
		ids = []string{}
	}
	return r.bump(ctx, ids)
}

// bump moves the revision, then appends the change to the change log (the
// one every area shares, AreaRules): one entry per rule id, or one naming
// no rule (ids nil: any number changed) — each with the new revision in
// Rev. A replica applies the entries it tails (secrules.Manager); one that
// finds the revision moved without its entry (a writer that died between
// the two steps) reads the whole set. The steps run under the revision's
// lock, so revisions are not lost across replicas; each is a lookup by
// _id.
func (r *Rules) bump(ctx context.Context, ids []string) (int64, error) {
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
	_, err = r.db.Collection("tenant").UpdateOne(ctx, bson.D{{Key: "_id", Value: "rules-revision"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "revision", Value: next}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return 0, fmt.Errorf("bump the rules revision: %w", MapErr(err))
	}
	if ids == nil {
		ids = []string{""}
	}
	for _, id := range ids {
		if _, err := r.rev.appendRev(ctx, AreaRules, id, next); err != nil {
			return next, err
		}
	}
	return next, nil
}
