// Command marathon-dataplane keeps a stock HAProxy in step with Marathon
// through the HAProxy Data Plane API: a successor to marathon-lb that
// pushes structured objects instead of rendering and reloading a whole file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/marathon-dataplane/marathon-dataplane/labels"
)

// Exit codes (also in README.md).
const (
	exitOK      = 0
	exitFailed  = 1
	exitPartial = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args, os.Stdout, os.Stderr))
}

// run is main without the process: tests call it with their own args and
// writers and read the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, "error:", msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(stderr, "error:", err)
	return exitFailed
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:  "marathon-dataplane",
		Usage: "sync Marathon apps to HAProxy through the Data Plane API, without reloads for task churn",
		Description: "A successor to marathon-lb: reads Marathon's apps and HAPROXY_* labels and keeps the\n" +
			"matching backends, servers, frontends, binds, ACLs and rules in a stock HAProxy\n" +
			"through the Data Plane API (transactions) and the Runtime API.",
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		// --generate-bash-completion lists commands and flags for the
		// script `marathon-dataplane completion bash` prints.
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {}, // run() prints and maps exit codes
		Flags:                []cli.Flag{&cli.BoolFlag{Name: "longhelp", Usage: "print every HAPROXY_* label and template, its marathon-lb default and what it becomes here (Markdown)"}},
		Action: func(c *cli.Context) error {
			if c.Bool("longhelp") {
				_, err := fmt.Fprint(c.App.Writer, labels.Reference())
				return err
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			syncCommand(),
			planCommand(),
			simulatorCommand(),
			daemonCommand(),
			modeCommand("sse"),
			modeCommand("poll"),
			healthcheckCommand(),
			versionCommand(),
			completionCommand(),
			demoCommand(),
			zddCommand(),
		},
	}
}

// versionCommand prints the module version and the VCS revision the binary
// was built from (Go's build info; `go build` in a git checkout records it).
func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version and build information",
		Action: func(c *cli.Context) error {
			info, ok := debug.ReadBuildInfo()
			if !ok {
				return cli.Exit("no build information in this binary", exitFailed)
			}
			fmt.Fprintf(c.App.Writer, "marathon-dataplane %s %s\n", info.Main.Version, info.GoVersion)
			for _, s := range info.Settings {
				switch s.Key {
				case "vcs.revision", "vcs.time", "vcs.modified", "GOOS", "GOARCH", "CGO_ENABLED":
					fmt.Fprintf(c.App.Writer, "%s=%s\n", s.Key, s.Value)
				}
			}
			return nil
		},
	}
}

// bashCompletion asks the binary itself (urfave/cli's
// --generate-bash-completion) for the words that may follow.
const bashCompletion = `_marathon_dataplane() {
  local cur words
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=("${COMP_WORDS[@]:1:COMP_CWORD-1}")
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$("${COMP_WORDS[0]}" "${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)" -- "$cur") )
  else
    COMPREPLY=( $(compgen -W "$("${COMP_WORDS[0]}" "${words[@]}" --generate-bash-completion 2>/dev/null)" -- "$cur") )
  fi
}
complete -o default -F _marathon_dataplane marathon-dataplane
`

// completionCommand prints the shell completion script:
// `source <(marathon-dataplane completion bash)`.
func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash): source <(marathon-dataplane completion bash)",
		ArgsUsage: "bash",
		Action: func(c *cli.Context) error {
			if sh := c.Args().First(); sh != "bash" {
				return cli.Exit(fmt.Sprintf("completion %q: only bash is supported", sh), exitFailed)
			}
			_, err := fmt.Fprint(c.App.Writer, bashCompletion)
			return err
		},
	}
}
