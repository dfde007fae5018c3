// compose-check loads Compose files with compose-go (the library Docker Compose itself uses): the compose-spec
// JSON schema, interpolation, and the cross-references (depends_on, networks, volumes, secrets) are checked
// without a container engine. Usage: compose-check [-env KEY=VALUE]... <compose.yaml>...
// Prints the names of the services it loaded, one per line (with -json: the loaded project, interpolated and with
// its YAML anchors and merges resolved); exits 1 with the loader's error otherwise.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

type envList []string

func (e *envList) String() string     { return strings.Join(*e, ",") }
func (e *envList) Set(v string) error { *e = append(*e, v); return nil }

func main() {
	var env envList
	flag.Var(&env, "env", "KEY=VALUE available to interpolation (repeatable)")
	asJSON := flag.Bool("json", false, "print the loaded project as JSON")
	flag.Parse()
	files := flag.Args()
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, "usage: compose-check [-env KEY=VALUE]... <compose.yaml>...")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(filepath.Dir(files[0])),
		cli.WithEnv(env),
		cli.WithName("compose-check"),
		cli.WithResolvedPaths(true),
		cli.WithProfiles([]string{"*"}),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *asJSON {
		out, err := json.Marshal(project)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(string(out))
		return
	}
	names := project.ServiceNames()
	sort.Strings(names)
	for _, n := range names {
		fmt.Println(n)
	}
}
