package supervisor

import (
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func syscallGetpgid() (int, error) { return syscall.Getpgid(0) }

func ignoreSIGTERM() { signal.Ignore(syscall.SIGTERM) }

// zapCoreTee also prints the supervisor's log when tests run with -v.
func zapCoreTee(c zapcore.Core) zapcore.Core {
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zapcore.NewTee(c, zapcore.NewCore(enc, zapcore.Lock(os.Stderr), zap.DebugLevel))
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

func atoiOr(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
