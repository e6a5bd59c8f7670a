package webintegrations

import (
	"context"
	"sync"
	"time"

	"github.com/rulekeeper/rulekeeper/resources/store"
)

// MaxTTL bounds how long a replica keeps the integrations it read: a change
// made through another replica takes effect here within that time.
const MaxTTL = 5 * time.Second

// Cache keeps every web integration's origins in memory for the CORS
// check. Writes through this process invalidate it at once.
type Cache struct {
	store *store.Store
	ttl   time.Duration

	mu       sync.Mutex
	loadedAt time.Time
	byID     map[string]map[string]bool // integration id → its origins
	any      map[string]bool            // origins listed by any integration
}

// NewCache reads integrations from s and keeps them for ttl (at most and,
// when ttl ≤ 0, exactly MaxTTL).
func NewCache(s *store.Store, ttl time.Duration) *Cache {
	if ttl <= 0 || ttl > MaxTTL {
		ttl = MaxTTL
	}
	return &Cache{store: s, ttl: ttl}
}

// Invalidate drops what the cache holds; the next lookup reads the store.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	c.byID, c.any = nil, nil
	c.mu.Unlock()
}

// Allows reports whether the integration with id lists origin (already
// normalised); id "" asks whether any integration lists it.
func (c *Cache) Allows(ctx context.Context, id, origin string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil || time.Since(c.loadedAt) >= c.ttl {
		all, err := c.store.WebIntegrations.All(ctx)
		if err != nil {
			return false, err
		}
		c.byID, c.any = make(map[string]map[string]bool, len(all)), map[string]bool{}
		for _, w := range all {
			set := make(map[string]bool, len(w.Origins))
			for _, o := range w.Origins {
				set[o], c.any[o] = true, true
			}
			c.byID[w.ID] = set
		}
		c.loadedAt = time.Now()
	}
	if id == "" {
		return c.any[origin], nil
	}
	return c.byID[id][origin], nil
}
