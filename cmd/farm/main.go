// Command farm turns podman and docker engines on machines of different CPU
// architectures into one multi-arch build farm.
package main

import (
	"os"

	"github.com/farmbuild/farm/cmd"
)

func main() { os.Exit(cmd.Main()) }
