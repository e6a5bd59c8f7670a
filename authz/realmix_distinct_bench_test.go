package authz_test

import (
	"fmt"
	"testing"
)

// BenchmarkDecideRealMixDistinct is BenchmarkDecideRealMix with every
// input's subject and resource ids made unique: no resource object is
// ever found among the engine's interned ones (input.go, objects), so it
// measures what interning costs when it never hits — a resource kept at
// its second build (the benchmark cycles through its inputs) and dropped
// before it is asked again.
func BenchmarkDecideRealMixDistinct(b *testing.B) {
	ins := realMix(8192, false)
	for i, in := range ins {
		c := *in
		c.Resource.ID = fmt.Sprint(c.Resource.ID, "-", i)
		c.Subject.ID = fmt.Sprint(c.Subject.ID, "-", i)
		ins[i] = &c
	}
	benchRealMix(b, ins)
}
