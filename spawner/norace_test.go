//go:build !race

package spawner

const raceEnabled = false
