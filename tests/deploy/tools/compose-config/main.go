// compose-config loads a Compose file the way `docker compose config` does, with the library
// Docker Compose itself is built on (compose-spec/compose-go): the compose-spec JSON schema,
// interpolation, normalisation and the consistency checks (services, networks and volumes that
// are referenced but not declared). It needs no Docker engine. On success it prints the
// resolved project as JSON on stdout (exit 0); on any problem, the error on stderr (exit 1).
//
//	compose-config [-e NAME=VALUE ...] FILE...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

type envFlags []string

func (e *envFlags) String() string     { return strings.Join(*e, ",") }
func (e *envFlags) Set(v string) error { *e = append(*e, v); return nil }

func main() {
	var env envFlags
	flag.Var(&env, "e", "NAME=VALUE for interpolation (repeatable); the process environment is used too")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: compose-config [-e NAME=VALUE ...] FILE...")
		os.Exit(2)
	}
	options, err := cli.NewProjectOptions(
		flag.Args(),
		cli.WithEnv(env), // given values win over the process environment
		cli.WithOsEnv,
		cli.WithDotEnv,
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(append(out, '\n'))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "compose-config:", err)
	os.Exit(1)
}
