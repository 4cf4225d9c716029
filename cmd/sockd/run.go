package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sockd/sockd/activator"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/control"
	"github.com/sockd/sockd/supervisor"
)

type stringList []string

func (l *stringList) String() string     { return fmt.Sprint(*l) }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// Run is `sockd run`: the daemon, in the foreground.
func Run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sockd run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfgPath  = fs.String("config", "", "configuration file (default /etc/sockd/sockd.toml, or $XDG_CONFIG_HOME/sockd/sockd.toml with --user)")
		userMode = fs.Bool("user", false, "run as a per-user manager: user unit and runtime directories, specifiers for the user")
		ctlPath  = fs.String("control", os.Getenv("SOCKD_CONTROL"), "control socket path (default from the configuration)")
		logLevel = fs.String("log-level", "", "override the configured log level (debug, info, warn, error)")
		logFmt   = fs.String("log-format", "", "override the configured log format (console, json)")
		unitDirs stringList
	)
	fs.Var(&unitDirs, "units", "unit directory, highest priority first (repeatable; replaces the configured list)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sockd run [--config FILE] [--units DIR]... [--user] [--control PATH]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	for i, d := range unitDirs {
		// Absolute, as on systemd's search path, so that %y/%Y expand to
		// absolute paths whatever the working directory.
		if abs, err := filepath.Abs(d); err == nil {
			unitDirs[i] = abs
		}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sockd run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}

	path, optional := *cfgPath, false
	if path == "" {
		path, optional = config.DefaultPath(*userMode), true
	}
	cfg, err := config.Load(path, *userMode, optional)
	if err != nil {
		fmt.Fprintf(stderr, "sockd: %v\n", err)
		return 1
	}
	if *ctlPath != "" {
		cfg.ControlSocket = *ctlPath
	}
	if *logLevel != "" {
		cfg.Log.Level = *logLevel
	}
	if *logFmt != "" {
		cfg.Log.Format = *logFmt
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "sockd: %v\n", err)
		return 1
	}
	defer log.Sync()
	// The control API's per-unit log: service output and sockd's events.
	ring := control.NewRing(control.DefaultRingSize)
	log = ring.Tee(log, zapcore.InfoLevel)
	metrics := control.NewMetrics()

	// Sockets passed to sockd itself (sockd.socket) are adopted, not bound.
	inherited, err := activator.Inherit()
	if err != nil {
		log.Warn("inherited fds", zap.Error(err))
	}

	// Loading makes several times the garbage it keeps (10,000 units: 38
	// MB allocated, 10 MB kept). Collecting at twice the default heap
	// growth while loading measured 0.21 -> 0.18 s to have 10,000 sockets
	// listening, for a peak RSS 3-6 MB higher while loading (28-31 -> 33-34
	// MB) and the same RSS once started (the garbage goes back to the OS
	// before the sockets listen). An administrator's GOGC= still wins.
	gcDefault := os.Getenv("GOGC") == ""
	gcPercent := -1
	if gcDefault {
		gcPercent = debug.SetGCPercent(200)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	sup, err := supervisor.New(supervisor.Options{
		Config:    cfg,
		UnitDirs:  unitDirs,
		UserMode:  *userMode,
		Logger:    log,
		Inherited: inherited,
		Subreaper: true,
		OnSpawn:   metrics.ObserveSpawn,
		OnReady: func() {
			// Under systemd (Type=notify), say we are bound and serving.
			daemon.SdNotify(false, daemon.SdNotifyReady)
			// Start-up reads and binds on every core; from then on one P
			// runs sockd's Go code, as systemd's manager is one thread.
			// With two, each connection woke idle threads to steal the
			// goroutines it readied, and one P serves 3-20 % more
			// connections/s (bench/README.md). The price: a direct spawn
			// (vfork, below 1,000 fds) holds the only P until the child
			// has exec'd, typically 0.1-0.5 ms, and a start through the
			// fork server for up to 2 ms, so nothing else in sockd runs
			// meanwhile (with two Ps it holds one of them, and a
			// collection waits for it all the same). An administrator's
			// GOMAXPROCS= still wins.
			if os.Getenv("GOMAXPROCS") == "" {
				runtime.GOMAXPROCS(1)
			}
			if gcDefault {
				debug.SetGCPercent(gcPercent)
			}
		},
	})
	if err != nil {
		log.Error("start", zap.Error(err))
		return 1
	}

	if cfg.ControlSocket != "" {
		ctl, err := control.Listen(control.Options{Path: cfg.ControlSocket, Group: cfg.ControlGroup,
			MetricsAddress: cfg.MetricsAddress, Supervisor: sup, Ring: ring, Metrics: metrics, Logger: log})
		if err != nil {
			log.Error("start", zap.Error(err))
			return 1
		}
		defer ctl.Close() // also removes the socket
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			daemon.SdNotify(false, daemon.SdNotifyReloading)
			if err := sup.Reload(ctx); err != nil {
				log.Warn("reload", zap.Error(err))
			}
			daemon.SdNotify(false, daemon.SdNotifyReady)
		}
	}()

	runErr := sup.Run(ctx)
	daemon.SdNotify(false, daemon.SdNotifyStopping)
	if runErr != nil {
		log.Error("sockd", zap.Error(runErr))
		return 1
	}
	return 0
}

// newLogger builds sockd's structured log: one event per line on stderr,
// human-readable (console) or JSON.
func newLogger(c config.Log, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	ec := zap.NewProductionEncoderConfig()
	ec.TimeKey = "ts"
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if c.Format == "json" {
		enc = zapcore.NewJSONEncoder(ec)
	} else {
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core), nil
}
