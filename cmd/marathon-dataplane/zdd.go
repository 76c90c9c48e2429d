package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/bluegreen"
	"github.com/marathon-dataplane/marathon-dataplane/dataplane/runtimeapi"
	"github.com/marathon-dataplane/marathon-dataplane/marathon"
)

// zddCommand is marathon-lb's zdd.py (spec §9) with its flags and exit
// codes, draining read from the Runtime API or the stats page.
func zddCommand() *cli.Command {
	return &cli.Command{
		Name:  "zdd",
		Usage: "zero-downtime blue/green deployment of an app with HAPROXY_DEPLOYMENT_GROUP (marathon-lb's zdd.py; exit codes 0-9 as there)",
		Flags: append(marathonFlags(),
			&cli.StringFlag{Name: "marathon-lb", Aliases: []string{"l"}, EnvVars: []string{"MARATHON_LB_URL"}, Usage: "the LB's stats base URL (e.g. http://marathon-lb.marathon.mesos:9090); every A record of its host is one LB instance, read at /haproxy?stats;csv"},
			&cli.StringFlag{Name: "haproxy-socket", EnvVars: []string{"HAPROXY_SOCKET"}, Usage: "read drain state from this HAProxy Runtime API (show stat) instead of --marathon-lb"},
			&cli.StringFlag{Name: "json", Aliases: []string{"j"}, Usage: "the app definition file (required)"},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"d"}, Usage: "print the prepared app JSON and stop before any change (honoured on the resume paths too)"},
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask before deploying, killing or deleting (required when stdin is not a terminal)"},
			&cli.Float64Flag{Name: "step-delay", Aliases: []string{"s"}, Value: 5, Usage: "seconds between polls"},
			&cli.IntFlag{Name: "initial-instances", Aliases: []string{"i"}, Value: 1, Usage: "first size of the new colour (capped by the target or --new-instances)"},
			&cli.IntFlag{Name: "linear-increase", Usage: "grow the new colour by this many instances per step instead of x1.5"},
			&cli.BoolFlag{Name: "resume", Aliases: []string{"r"}, Usage: "continue an interrupted deployment (the newest app of the group is new)"},
			&cli.Float64Flag{Name: "max-wait", Aliases: []string{"w"}, Value: 300, Usage: "seconds to wait for drained servers (then disabled ones are killed anyway) and for the new colour to become healthy (then it is rolled back)"},
			&cli.IntFlag{Name: "new-instances", Aliases: []string{"n"}, Usage: "traffic split: stop with this many new instances (capped at the target) and keep the old colour for the rest"},
			&cli.BoolFlag{Name: "complete-cur", Aliases: []string{"c"}, Usage: "move a split or stuck deployment entirely to the newest app and delete the other"},
			&cli.BoolFlag{Name: "complete-prev", Aliases: []string{"p"}, Usage: "move a split or stuck deployment entirely back to the previous app and delete the newest (rollback)"},
			&cli.StringFlag{Name: "pre-kill-hook", Usage: "executable run before each kill as: hook <old app JSON> <task ids JSON> <new app JSON>; non-zero stops (exit 2)"},
			&cli.BoolFlag{Name: "no-rollback", Usage: "when the new colour never becomes healthy, keep both colours (marathon-lb's behaviour) instead of restoring the old one"},
		),
		Action: func(c *cli.Context) error {
			err := runZDD(c, os.Stdin)
			if err == nil {
				return nil
			}
			return cli.Exit(err.Error(), bluegreen.ExitCode(err))
		},
	}
}

func runZDD(c *cli.Context, stdin *os.File) error {
	log, err := newLogger(c.String("log-level"), c.String("log-format"), c.App.ErrWriter)
	if err != nil {
		return fmt.Errorf("%w: %w", bluegreen.ErrInvalidArgs, err)
	}
	defer log.Sync() //nolint:errcheck // best effort on exit
	if c.String("json") == "" {
		return fmt.Errorf("%w: --json is required", bluegreen.ErrInvalidArgs)
	}
	raw, err := os.ReadFile(c.String("json"))
	if err != nil {
		return fmt.Errorf("%w: --json: %w", bluegreen.ErrInvalidArgs, err)
	}
	if _, err := bluegreen.LoadApp(raw); err != nil {
		return err // before any flag or connection: exit 3 or 4
	}
	cfg := bluegreen.Config{
		PreKillHook: c.String("pre-kill-hook"), StepDelay: seconds(c.Float64("step-delay")), MaxWait: seconds(c.Float64("max-wait")),
		InitialInstances: c.Int("initial-instances"), NewInstances: c.Int("new-instances"), LinearIncrease: c.Int("linear-increase"),
		Resume: c.Bool("resume"), CompleteCur: c.Bool("complete-cur"), CompletePrev: c.Bool("complete-prev"), DryRun: c.Bool("dry-run"),
		NoRollback: c.Bool("no-rollback"), Out: c.App.Writer, Log: log,
	}
	if cfg.InitialInstances < 1 || cfg.NewInstances < 0 || cfg.LinearIncrease < 0 || cfg.StepDelay <= 0 || cfg.MaxWait <= 0 {
		return fmt.Errorf("%w: --initial-instances must be at least 1, --new-instances and --linear-increase at least 0, --step-delay and --max-wait positive", bluegreen.ErrInvalidArgs)
	}
	if !c.Bool("force") && !cfg.DryRun {
		if !isTerminal(stdin) {
			return fmt.Errorf("%w: stdin is not a terminal: pass --force to deploy without confirmation prompts", bluegreen.ErrInvalidArgs)
		}
		cfg.Confirm = prompter(bufio.NewReader(stdin), c.App.ErrWriter)
	}
	switch {
	case c.String("haproxy-socket") != "":
		rt, err := runtimeapi.New(c.String("haproxy-socket"), runtimeapi.WithLogger(log))
		if err != nil {
			return fmt.Errorf("%w: --haproxy-socket: %w", bluegreen.ErrInvalidArgs, err)
		}
		cfg.Drain = bluegreen.SocketObserver{RT: rt}
	case c.String("marathon-lb") != "":
		o, err := bluegreen.NewStatsPageObserver(c.String("marathon-lb"), 10*time.Second)
		if err != nil {
			return err
		}
		cfg.Drain = o
	default:
		return fmt.Errorf("%w: --marathon-lb or --haproxy-socket is required", bluegreen.ErrInvalidArgs)
	}
	mcfg, err := marathonConfig(c, log)
	if err != nil {
		return fmt.Errorf("%w: %w", bluegreen.ErrInvalidArgs, err)
	}
	mc, err := marathon.New(mcfg)
	if err != nil {
		return fmt.Errorf("%w: %w", bluegreen.ErrInvalidArgs, err)
	}
	cfg.Marathon = mc
	res, err := bluegreen.New(cfg).Deploy(c.Context, raw)
	fields := []zap.Field{zap.String("outcome", res.Outcome), zap.String("new", res.NewApp), zap.String("old", res.OldApp),
		zap.Int("killed", res.Killed), zap.Duration("duration", res.Duration.Round(time.Millisecond)), zap.Int("exit", bluegreen.ExitCode(err))}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			err = fmt.Errorf("interrupted; Marathon keeps what was done: continue with --resume, or roll back with --complete-prev: %w", err)
		}
		log.Error("zdd failed", append(fields, zap.Error(err))...)
		return err
	}
	log.Info("zdd done", fields...)
	return nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// prompter asks on w and reads y/yes (anything else is no) from r.
func prompter(r *bufio.Reader, w io.Writer) func(ctx context.Context, q string) (bool, error) {
	return func(ctx context.Context, q string) (bool, error) {
		fmt.Fprintf(w, "%s [y/N] ", q)
		line, err := r.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return true, nil
		}
		return false, nil
	}
}
