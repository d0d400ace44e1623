// Command bench-ferretdb runs FerretDB (MongoDB wire protocol) with the SQLite
// backend for local development and integration tests.
//
// Why a wrapper instead of `go install .../cmd/ferretdb`: that command needs
// build/version/version.txt, a generated file that is not part of the module
// zip, so a proxy-built binary panics at start-up. The embeddable package
// github.com/FerretDB/FerretDB/ferretdb skips that check.
//
// Usage: bench-ferretdb -listen 127.0.0.1:27017 -sqlite-dir /tmp/state/ferretdb
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("sqlite-dir", "", "directory for the SQLite databases (created if missing)")
	debug := flag.Bool("debug", false, "debug logging")
	flag.Parse()

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if *dir == "" {
		logger.Error("-sqlite-dir is required")
		os.Exit(2)
	}
	abs, err := filepath.Abs(*dir)
	if err == nil {
		err = os.MkdirAll(abs, 0o755)
	}
	if err != nil {
		logger.Error("bad -sqlite-dir", "err", err)
		os.Exit(1)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Logger:   logger,
		Handler:  "sqlite",
		// FerretDB wants a directory URI with a trailing slash; one .sqlite file per database.
		SQLiteURL: "file:" + abs + "/",
	})
	if err != nil {
		logger.Error("cannot start FerretDB", "err", err)
		os.Exit(1)
	}

	// Run until SIGTERM/SIGINT; Run closes the listener, connections and backend on return.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	logger.Info("FerretDB listening", "addr", *listen, "sqlite", abs)
	if err := f.Run(ctx); err != nil {
		logger.Error("FerretDB stopped with error", "err", err)
		os.Exit(1)
	}
	logger.Info("FerretDB stopped")
}
