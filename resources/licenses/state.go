package licenses

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rulekeeper/rulekeeper/authz"
	"github.com/rulekeeper/rulekeeper/resources/store"
)

// EventSource is the source of license events (issue: com.rulekeeper/licenses).
const EventSource = "com.rulekeeper/licenses"

// Service keeps the license state: the key in force and who is assigned,
// included or excluded. Decisions read a snapshot (store.Snapshot) built
// once and then kept current from the change log: an assignment change
// re-reads that one assignment, a capacity minute the month's counter (one
// document each), a key change rebuilds. Other replicas' writes show up
// within the staleness bound, and a write costs the same whatever the
// number of assignments. Time changes the state without a write too: the
// key's expiry and the start of a month (capacity minutes are counted per
// month) rebuild it.
type Service struct {
	store *store.Store
	pub   ed25519.PublicKey
	now   func() time.Time
	// Changed is called after every change of key or assignments (the
	// engine drops cached subjects, whose license it holds).
	Changed func()
	// SharedSpaces counts the shared spaces for the quota (nil: ask the
	// store, which on the embedded server decodes every space).
	SharedSpaces func(context.Context) (int, error)

	snap *store.Snapshot[*snapshot]
	// mu queues this process's assignment changes in front of the
	// database lock that serialises them across replicas (lock).
	mu sync.Mutex
	// minutes remembers the last capacity minute recorded per user.
	minutes sync.Map
}

// New builds the service with the public key that verifies license keys.
func New(s *store.Store, pub ed25519.PublicKey) *Service {
	svc := &Service{store: s, pub: pub, now: time.Now}
	svc.snap = store.NewSnapshot(s, svc.build, svc.apply, store.AreaLicenses, store.AreaCapacity)
	return svc
}

// Rebuilds is how many times the license state was built from the store.
func (s *Service) Rebuilds() int64 { return s.snap.Builds() }

// Member is one assigned user as the overview shows it.
type Member struct {
	UserID     string    `json:"userId"`
	Type       string    `json:"type"`
	AssignedAt time.Time `json:"assignedAt"`
	Status     string    `json:"status"` // "allocated" or "excluded"
}

// snapshot is the state at one moment, changed in place (under mu) as the
// change log is applied.
type snapshot struct {
	until time.Time // the state changes by itself then (zero: never)
	terms *Terms    // nil: no key applied

	mu      sync.RWMutex
	members map[string]store.Assignment // by user id
	// order holds each type's assignments in assignment order: seed §1.1,
	// the earliest within the total are allocated, the rest excluded.
	order   map[string][]orderKey
	minutes int64 // capacity minutes used this month
}

type orderKey struct {
	seq int64
	id  string // the user id, to break ties
}

func (k orderKey) cmp(o orderKey) int {
	if k.seq != o.seq {
		return cmp.Compare(k.seq, o.seq)
	}
	return strings.Compare(k.id, o.id)
}

func keyOf(a store.Assignment) orderKey { return orderKey{a.Seq, a.UserID} }

// put adds or replaces the assignment of a.UserID; drop removes it.
func (sn *snapshot) put(a store.Assignment) {
	sn.drop(a.UserID)
	sn.members[a.UserID] = a
	list := sn.order[a.Type]
	k, _ := slices.BinarySearchFunc(list, keyOf(a), orderKey.cmp)
	sn.order[a.Type] = slices.Insert(list, k, keyOf(a))
}

func (sn *snapshot) drop(userID string) {
	old, ok := sn.members[userID]
	if !ok {
		return
	}
	delete(sn.members, userID)
	list := sn.order[old.Type]
	if k, found := slices.BinarySearchFunc(list, keyOf(old), orderKey.cmp); found {
		sn.order[old.Type] = slices.Delete(list, k, k+1)
	}
}

// member is userID's assignment with its status; the caller holds mu.
func (sn *snapshot) member(userID string) (Member, bool) {
	a, ok := sn.members[userID]
	if !ok {
		return Member{}, false
	}
	m := Member{UserID: a.UserID, Type: a.Type, AssignedAt: a.AssignedAt, Status: "allocated"}
	// Excluded when its place in its type's order is past the seats; when
	// the whole order fits (the usual case), no place is: nothing to search.
	if limit, limited := sn.terms.limit(a.Type); limited && len(sn.order[a.Type]) > limit {
		if k, _ := slices.BinarySearchFunc(sn.order[a.Type], keyOf(a), orderKey.cmp); k >= limit {
			m.Status = "excluded"
		}
	}
	return m, true
}

// allocated is how many of typ hold a seat; the caller holds mu.
func (sn *snapshot) allocated(typ string) int {
	n := len(sn.order[typ])
	if limit, limited := sn.terms.limit(typ); limited {
		return min(n, limit)
	}
	return n
}

// excluded is how many are assigned beyond their type's total.
func (sn *snapshot) excluded() int {
	n := 0
	for typ, list := range sn.order {
		n += len(list) - sn.allocated(typ)
	}
	return n
}

// state returns the current snapshot (within the staleness bound), rebuilt
// first when time changed it.
func (s *Service) state(ctx context.Context) (*snapshot, error) {
	return s.stateAt(ctx, time.Time{})
}

// stateAt is state at the time now, read from the clock when zero (and
// needed).
func (s *Service) stateAt(ctx context.Context, now time.Time) (*snapshot, error) {
	sn, err := s.snap.Get(ctx)
	if err != nil {
		return nil, err
	}
	if sn.until.IsZero() {
		return sn, nil
	}
	if now.IsZero() {
		now = s.now()
	}
	if !now.Before(sn.until) {
		if err := s.snap.Rebuild(ctx); err != nil {
			return nil, err
		}
		return s.snap.Get(ctx)
	}
	return sn, nil
}

// Invalidate makes the next read catch up with the change log and tells
// Changed.
func (s *Service) Invalidate() {
	s.snap.Invalidate()
	if s.Changed != nil {
		s.Changed()
	}
}

func (s *Service) build(ctx context.Context) (*snapshot, error) {
	now := s.now()
	sn := &snapshot{members: map[string]store.Assignment{}, order: map[string][]orderKey{}}
	k, err := s.store.LicenseKeys.Current(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return sn, nil
	}
	if err != nil {
		return nil, err
	}
	// The stored key was verified when applied; its expiry still counts.
	t, err := Verify(s.pub, k.Raw, now)
	if err != nil && !errors.Is(err, ErrExpired) {
		return nil, fmt.Errorf("license key in force: %w", err)
	}
	if err != nil {
		return sn, nil // expired: nobody is licensed
	}
	sn.terms = t
	// The key expires, or the month of the capacity minutes ends.
	y, m, _ := now.UTC().Date()
	sn.until = time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
	if t.ExpiresAt.Before(sn.until) {
		sn.until = t.ExpiresAt
	}
	as, err := s.store.Assignments.ForKey(ctx, t.KeyID)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		sn.members[a.UserID] = a
		sn.order[a.Type] = append(sn.order[a.Type], keyOf(a))
	}
	for _, list := range sn.order {
		slices.SortFunc(list, orderKey.cmp)
	}
	if sn.minutes, err = s.store.LicenseKeys.MinutesUsed(ctx, t.KeyID, now); err != nil {
		return nil, err
	}
	return sn, nil
}

// apply re-reads the changed assignments and the month's minutes; a change
// of the key in force rebuilds.
func (s *Service) apply(ctx context.Context, sn *snapshot, cs []store.Change) (*snapshot, error) {
	minutes := false
	for _, c := range cs {
		switch {
		case c.Area == store.AreaCapacity:
			minutes = true
		case c.DocID == store.KeyDocID:
			return s.build(ctx)
		case sn.terms == nil:
			// No key in force: assignments do not count.
		default:
			keyID, userID, ok := strings.Cut(c.DocID, "/")
			if !ok || keyID != sn.terms.KeyID {
				continue // another key's assignment
			}
			a, err := s.store.Assignments.Get(ctx, keyID, userID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			sn.mu.Lock()
			if a == nil {
				sn.drop(userID)
			} else {
				sn.put(*a)
			}
			sn.mu.Unlock()
		}
	}
	if minutes && sn.terms != nil {
		n, err := s.store.LicenseKeys.MinutesUsed(ctx, sn.terms.KeyID, s.now())
		if err != nil {
			return nil, err
		}
		sn.mu.Lock()
		sn.minutes = n
		sn.mu.Unlock()
	}
	return sn, nil
}

// limit is the seat total of an access type; capacity has no seat limit.
func (t *Terms) limit(typ string) (int, bool) {
	switch typ {
	case store.LicenseProfessional:
		return t.Professional, true
	case store.LicenseAnalyzer:
		return t.Analyzer, true
	}
	return 0, false
}

// capacityLeft reports whether analyzer capacity minutes remain this month
// (the monthly total plus any overage); the caller holds mu.
func (sn *snapshot) capacityLeft() bool {
	t := sn.terms
	if t == nil || t.CapacityMinutes == 0 && !t.OverageUnlimited && t.OverageMinutes == 0 {
		return false
	}
	return t.OverageUnlimited || sn.minutes < int64(t.CapacityMinutes+t.OverageMinutes)
}

// LicenseOf is the license of a user as the policy sees it.
func (s *Service) LicenseOf(ctx context.Context, userID string) (authz.License, error) {
	return s.licenseAt(ctx, userID, time.Time{})
}

// licenseAt is LicenseOf at the time now (zero: the clock's).
func (s *Service) licenseAt(ctx context.Context, userID string, now time.Time) (authz.License, error) {
	sn, err := s.stateAt(ctx, now)
	if err != nil {
		return authz.License{}, err
	}
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	m, ok := sn.member(userID)
	if !ok {
		return authz.License{}, nil
	}
	l := authz.License{Type: m.Type, Excluded: m.Status == "excluded"}
	if m.Type == store.LicenseAnalyzerCapacity && !sn.capacityLeft() {
		l.CapacityExhausted = true
	}
	return l, nil
}

// KeyID is the id of the key in force ("" when none).
func (s *Service) KeyID(ctx context.Context) (string, error) {
	sn, err := s.state(ctx)
	if err != nil || sn.terms == nil {
		return "", err
	}
	return sn.terms.KeyID, nil
}
