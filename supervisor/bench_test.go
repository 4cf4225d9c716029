package supervisor

import (
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
)

// BenchmarkAcceptYes measures one inetd-style instance per connection
// (/bin/true) end to end: accept, instance, spawn, exit, reap; at 1 and
// 8 concurrent clients. Compare with bench/peers.sh spawn-per-conn.
func BenchmarkAcceptYes(b *testing.B) {
	for _, conc := range []int{1, 8} {
		b.Run("C="+itoa(conc), func(b *testing.B) {
			h := newHarness(b, map[string]string{
				"b.socket":   "[Socket]\nListenStream=@TMP@/b.sock\nAccept=yes\nMaxConnections=1024\nTriggerLimitIntervalSec=0\n",
				"b@.service": "[Service]\nExecStart=/bin/true\nStandardInput=socket\nStandardOutput=socket\n",
			})
			path := filepath.Join(h.tmp, "b.sock")
			b.ResetTimer()
			var wg sync.WaitGroup
			work := make(chan struct{})
			for i := 0; i < conc; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range work {
						c, err := net.Dial("unix", path)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, c)
						c.Close()
					}
				}()
			}
			for i := 0; i < b.N; i++ {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
		})
	}
}
