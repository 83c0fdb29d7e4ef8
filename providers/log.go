package providers

import (
	"context"
	"io"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// Log field names, in one place.
const (
	logPlugin  = "plugin"
	logCrashes = "crashes"
	logRestart = "restart_in"
	logError   = "error"
)

// hclogFor returns the hclog.Logger go-plugin wants, forwarding to l:
// go-plugin's own messages and the plugin's log lines (which go-plugin
// reads from the plugin's stderr) end up in the caller's slog logger.
func hclogFor(l *slog.Logger, name string) hclog.Logger {
	il := hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name:   name,
		Level:  hclog.Debug,
		Output: io.Discard,
	})
	il.RegisterSink(slogSink{l: l.With(logPlugin, name)})
	return il
}

type slogSink struct{ l *slog.Logger }

func (s slogSink) Accept(_ string, level hclog.Level, msg string, args ...any) {
	lvl := slog.LevelDebug
	switch level {
	case hclog.Info:
		lvl = slog.LevelInfo
	case hclog.Warn:
		lvl = slog.LevelWarn
	case hclog.Error:
		lvl = slog.LevelError
	}
	s.l.Log(context.Background(), lvl, msg, args...)
}
