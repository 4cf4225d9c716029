//go:build linux

package activator

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/units"
)

// procStatusKB reads a "VmRSS:"-style field of /proc/self/status in KiB.
func procStatusKB(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return n
		}
	}
	return 0
}

func closeAll(b *testing.B, bound []*Bound, errs []error) {
	for i, bd := range bound {
		if errs[i] != nil {
			b.Fatal(errs[i])
		}
		bd.Close(true)
	}
}

// BenchmarkBind10k binds 10,000 listeners with BindAll: TCP on 127.0.0.1
// port 0 and AF_UNIX stream sockets in one directory, as 10k single-listener
// units (and, for TCP, also as one unit). One op is the whole 10k. VmRSS/VmHWM are the process's resident size and peak with
// 10k units bound (see run).
func BenchmarkBind10k(b *testing.B) {
	const n = 10000
	cur, _, err := RaiseNoFileLimit()
	if err != nil {
		b.Fatal(err)
	}
	if err := CheckNoFileLimit(cur, n); err != nil {
		b.Skip(err)
	}
	// perUnit is the number of listeners per unit: 1 (10k units, as many
	// small units are typical) or n (one unit, to see the bound state
	// without 10k units.Socket inputs of about 1 KiB each).
	run := func(b *testing.B, perUnit int, mk func(i int) units.Listener) {
		socks := make([]*units.Socket, 0, n/perUnit)
		for i := 0; i < n; i += perUnit {
			s := unit("b"+strconv.Itoa(i)+".socket", units.SocketOptions{})
			for j := range perUnit {
				s.Listeners = append(s.Listeners, mk(i+j))
			}
			socks = append(socks, s)
		}
		// Memory: one BindAll from a clean slate (garbage of earlier runs
		// returned to the OS, peak reset), measured while the 10k bound
		// units are alive, as in sockd after start. The timed loop below
		// would mostly measure GC headroom for the garbage it makes.
		runtime.GC()
		debug.FreeOSMemory()
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		withInput := procStatusKB("VmRSS")
		bound, errs := BindAll(socks, BindOptions{})
		rss, hwm := procStatusKB("VmRSS"), procStatusKB("VmHWM")
		closeAll(b, bound, errs)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			bound, errs := BindAll(socks, BindOptions{})
			b.StopTimer()
			closeAll(b, bound, errs)
			b.StartTimer()
		}
		b.StopTimer()
		b.ReportMetric(rss/1024, "MB-VmRSS")
		b.ReportMetric(hwm/1024, "MB-VmHWM")
		// MB-bind leaves out the test binary and the 10k units.Socket
		// inputs (about 8 and 11 MB): what the bound state itself costs.
		b.ReportMetric((hwm-withInput)/1024, "MB-bind")
	}
	tcp := func(int) units.Listener { return inet4(units.ListenStream, "127.0.0.1", 0) }
	b.Run("tcp", func(b *testing.B) { run(b, 1, tcp) })
	b.Run("tcp-one-unit", func(b *testing.B) { run(b, n, tcp) })
	// Sockets live in /run, a tmpfs, on real systems: bench on a tmpfs too
	// (/dev/shm). unix-tmpdir shows the same on $TMPDIR's file system, where
	// a disk file system's inode creation dominates.
	unixIn := func(parent string) func(b *testing.B) {
		return func(b *testing.B) {
			d, err := os.MkdirTemp(parent, "")
			if err != nil {
				b.Skip(err)
			}
			defer os.RemoveAll(d)
			run(b, 1, func(i int) units.Listener { return unixL(units.ListenStream, filepath.Join(d, strconv.Itoa(i))) })
		}
	}
	var fs unix.Statfs_t
	if unix.Statfs("/dev/shm", &fs) == nil && fs.Type == unix.TMPFS_MAGIC {
		b.Run("unix", unixIn("/dev/shm"))
	}
	b.Run("unix-tmpdir", unixIn(""))
}
