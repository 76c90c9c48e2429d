package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/marathon-dataplane/marathon-dataplane/marathon/marathontest"
)

func simulatorCommand() *cli.Command {
	return &cli.Command{
		Name:  "simulator",
		Usage: "run the Marathon simulator (REST, SSE, deployments, tasks as real local servers) until interrupted",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", EnvVars: []string{"SIMULATOR_LISTEN"}, Value: "127.0.0.1:8080", Usage: "address of the simulated Marathon API (loopback only)"},
			&cli.StringFlag{Name: "apps", EnvVars: []string{"SIMULATOR_APPS"}, Usage: "JSON file of app definitions to create at start ({\"apps\":[...]} or [...])"},
			&cli.Float64Flag{Name: "time-scale", EnvVars: []string{"SIMULATOR_TIME_SCALE"}, Value: 0.1, Usage: "multiplies Marathon's durations (health-check intervals, grace periods)"},
			&cli.StringFlag{Name: "log-level", EnvVars: []string{"LOG_LEVEL"}, Value: "info"},
			&cli.StringFlag{Name: "log-format", EnvVars: []string{"LOG_FORMAT"}, Value: "console"},
		},
		Action: func(c *cli.Context) error {
			log, err := newLogger(c.String("log-level"), c.String("log-format"), c.App.ErrWriter)
			if err != nil {
				return cli.Exit(err.Error(), exitFailed)
			}
			sim := marathontest.New(marathontest.Options{Logger: log, TimeScale: c.Float64("time-scale")})
			if err := sim.StartOn(c.String("listen")); err != nil {
				return cli.Exit(fmt.Sprintf("simulator: %v", err), exitFailed)
			}
			defer func() { _ = sim.Close() }()
			if f := c.String("apps"); f != "" {
				apps, err := marathontest.LoadApps(f)
				if err != nil {
					return cli.Exit(fmt.Sprintf("--apps: %v", err), exitFailed)
				}
				for _, a := range apps {
					if _, err := sim.CreateApp(a); err != nil {
						return cli.Exit(fmt.Sprintf("--apps: create %s: %v", a.ID, err), exitFailed)
					}
				}
			}
			log.Info("Marathon simulator listening", zap.String("url", sim.URL()))
			fmt.Fprintln(c.App.Writer, sim.URL())
			<-c.Done()
			return nil
		},
	}
}
