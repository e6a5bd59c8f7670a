package decisionlog

import "math"

// sampler keeps a decision when a hash of its id and the seed falls below
// the rate: the same id and seed always give the same answer, so that a
// test (or another process given the id) can tell whether it was logged.
type sampler struct {
	all, none bool
	threshold uint64
	seed      uint64
}

func newSampler(rate float64, seed uint64) sampler {
	switch {
	case rate >= 1:
		return sampler{all: true}
	case rate <= 0:
		return sampler{none: true}
	}
	return sampler{threshold: uint64(rate * math.MaxUint64), seed: seed}
}

// keep reports whether the decision with id is logged.
func (s sampler) keep(id string) bool {
	switch {
	case s.all:
		return true
	case s.none:
		return false
	}
	return hash(s.seed, id) < s.threshold
}

// hash is FNV-1a of id from seed's offset, finished with splitmix64 so that
// ids that differ only in their last digits spread over the whole range.
func hash(seed uint64, id string) uint64 {
	h := uint64(14695981039346656037) ^ seed
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
