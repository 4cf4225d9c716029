package units

import (
	"testing"
)

func BenchmarkZZLoad10k(b *testing.B) {
	for range b.N {
		Load([]string{"/tmp/u10k"}, LoadOptions{LazyTemplates: true, OnSocket: func(*Socket) {}})
	}
}
