// Package cmd is farm's command line: a cobra command tree that maps flags
// to calls into the farm, builders, schedule and manifest packages. It holds
// no logic of its own beyond parsing, output formatting and exit codes.
package cmd
