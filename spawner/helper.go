//go:build linux

package spawner

import "os"

// MaybeRunHelper runs the spawner's hidden helper mode (the fork server) if
// this process was started in it, and never returns in that case. Otherwise
// it returns at once. Call it first thing in main, before anything opens
// descriptors or starts goroutines, and from TestMain in tests that start
// a Spawner.
func MaybeRunHelper() {
	if os.Getenv(helperEnvVar) == forkServerMode {
		runForkServer()
		os.Exit(0)
	}
}
