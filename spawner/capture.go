//go:build linux

package spawner

import (
	"bytes"
	"os"
	"sync"

	"go.uber.org/zap"
)

// maxLine is the longest line logged as one entry; longer lines are split.
const maxLine = 64 << 10

// newLineBufs returns the pool of capture buffers: Accept=yes services come
// and go by the thousand, and most never print a byte.
func newLineBufs() *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, maxLine); return &b }}
}

// capture logs r (the read end of a service's stdout or stderr pipe) line by
// line until every writer has closed it. Each line is one log entry, so lines
// of different services never mix.
func (s *Spawner) capture(r *os.File, unit string, pid int, stream string) {
	defer r.Close()
	bp := s.lineBufs.Get().(*[]byte)
	defer s.lineBufs.Put(bp)
	buf := *bp
	log := s.log.With(zap.String("unit", unit), zap.Int("pid", pid), zap.String("stream", stream))
	n := 0         // bytes of an unfinished line at the start of buf
	split := false // the last entry was a full buffer without a newline
	for {
		m, err := r.Read(buf[n:])
		n += m
		start := 0
		for {
			i := bytes.IndexByte(buf[start:n], '\n')
			if i < 0 {
				break
			}
			// A newline right after a split ends that line; it is not
			// an empty line of its own.
			if !(split && start == 0 && i == 0) {
				log.Info(string(buf[start : start+i]))
			}
			split = false
			start += i + 1
		}
		n = copy(buf, buf[start:n])
		if n == len(buf) {
			log.Info(string(buf))
			n = 0
			split = true
		} else if n > 0 {
			split = false
		}
		if err != nil {
			if n > 0 {
				log.Info(string(buf[:n]))
			}
			return
		}
	}
}
