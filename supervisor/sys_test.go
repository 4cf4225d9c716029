package supervisor

import (
	"os"
	"os/signal"
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
