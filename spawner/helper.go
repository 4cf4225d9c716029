//go:build linux

package spawner

// MaybeRunHelper runs one of the spawner's hidden helper modes if this
// process was started in one, and never returns in that case. Otherwise it
// returns at once. Call it first thing in main (and in TestMain).
func MaybeRunHelper() {}
