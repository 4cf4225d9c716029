//go:build linux

package spawner

import (
	"net"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkSpawn measures one start-to-reaped cycle of /bin/true, with the
// parent holding 10 or 5,000 descriptors, against os.StartProcess of the same
// program. files=1 passes one listening socket (ExtraFiles for os, ListenEnv
// for the spawner).
func BenchmarkSpawn(b *testing.B) {
	const prog = "/bin/true"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	lf, err := l.(*net.TCPListener).File()
	if err != nil {
		b.Fatal(err)
	}
	defer lf.Close()
	env := BaseEnv(nil)

	for _, nfds := range []int{10, 5000} {
		extra := holdFDs(b, nfds)
		b.Run("fds="+strconv.Itoa(nfds), func(b *testing.B) {
			for _, files := range []int{0, 1} {
				b.Run("os.StartProcess/files="+strconv.Itoa(files), func(b *testing.B) {
					attr := &os.ProcAttr{Env: env, Files: []*os.File{nil, nil, nil}}
					if files == 1 {
						attr.Files = append(attr.Files, lf)
					}
					b.ReportAllocs()
					for b.Loop() {
						p, err := os.StartProcess(prog, []string{prog}, attr)
						if err != nil {
							b.Fatal(err)
						}
						if _, err := p.Wait(); err != nil {
							b.Fatal(err)
						}
					}
				})
				for _, m := range []struct {
					name   string
					direct bool
				}{{"spawner-forkserver", false}, {"spawner-direct", true}} {
					b.Run(m.name+"/files="+strconv.Itoa(files), func(b *testing.B) {
						s, err := New(Options{DirectFork: m.direct})
						if err != nil {
							b.Fatal(err)
						}
						defer s.Close()
						spec := &Spec{Path: prog, Env: env}
						if files == 1 {
							spec.Files = []int{int(lf.Fd())}
							spec.Names = []string{"bench"}
							spec.ListenEnv = true
						}
						b.ReportAllocs()
						for b.Loop() {
							p, err := s.Start(spec)
							if err != nil {
								b.Fatal(err)
							}
							p.Wait()
						}
					})
				}
			}
		})
		for _, fd := range extra {
			unix.Close(fd)
		}
	}
}

// holdFDs opens /dev/null until the process has about n descriptors and
// returns the ones it opened.
func holdFDs(b testing.TB, n int) []int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		b.Fatal(err)
	}
	var fds []int
	for i := len(ents); i < n; i++ {
		fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		fds = append(fds, fd)
	}
	return fds
}
