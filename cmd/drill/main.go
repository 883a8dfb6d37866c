// Command drill runs declarative failover drills against a PostgreSQL HA
// cluster and reports what happened. See `drill --help`.
package main

import (
	"os"
)

func main() {
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
