# homepost — see README.md. PREFIX defaults to ~/.local: no root needed.
PREFIX ?= $(HOME)/.local
BINDIR ?= $(PREFIX)/bin
GO ?= go
# git describe, or outside a clone the commit git archive wrote (mk/version.sh).
VERSION ?= $(shell sh mk/version.sh)
# A static, pure-Go binary: the shim starts fast and runs from cron's
# minimal environment.
GOFLAGS_BUILD = -trimpath -tags osusergo,netgo -ldflags '-s -w -X main.version=$(VERSION)'
# sendmail is a program of its own (cmd/sendmail): it queues a message
# without starting homepost, and hands every other mode to the homepost
# beside it. send-mail is a link to it; the other names link homepost.
LINKS = mail mailx mailq newaliases
# START=no installs without enabling and starting the user unit.
START ?= yes
# NEXT_STEPS=no leaves out what install says is left to do.
NEXT_STEPS ?= yes

.PHONY: all build install test bench clean

all: build

build:
	@echo "homepost: building ./homepost and ./sendmail with $(GO) build (the first build downloads the modules in go.mod and compiles them and Go's standard library: a few minutes; later builds take seconds)"
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o homepost .
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o sendmail ./cmd/sendmail

install: build
	@sh mk/install-bin.sh install "$(BINDIR)" $(LINKS)
	@$(MAKE) --no-print-directory install-extra PREFIX="$(PREFIX)" BINDIR="$(BINDIR)"
	@agent=none; \
	if systemctl --user show-environment >/dev/null 2>&1; then \
		agent=stopped; \
		if [ "$(START)" = yes ]; then \
			systemctl --user daemon-reload && systemctl --user enable homepost.service && \
			systemctl --user restart homepost.service || \
			{ echo "homepost: the agent did not start: see systemctl --user status homepost" >&2; exit 1; }; \
			agent=running; \
		fi; \
	fi; \
	if [ $$agent != running ]; then sh mk/install-bin.sh restart "$(BINDIR)" || exit 1; fi; \
	if [ "$(NEXT_STEPS)" = yes ]; then \
		$(MAKE) --no-print-directory next-steps AGENT=$$agent PREFIX="$(PREFIX)" BINDIR="$(BINDIR)"; \
	fi

# make test: go vet, then in one go test run the packages' tests and the
# black-box suites in test/ (which run the built binary), reported by
# test/summary: failures in full, then which tests were skipped on this
# machine and why, the slowest packages, then "N passed, N failed, N
# skipped". V=1 shows all;
# TESTJSON=FILE keeps go test's JSON stream, with each test's time.
#
# vet runs with the binary's build settings, so that it and the binary
# the suites build (test/testenv) share one compilation in Go's cache.
# -p 4 on two cores: the black-box suites spend most of their time
# waiting on the processes they start, so two packages per core
# overlap. -race stays on for every package: it costs about a third
# more CPU, and the black-box suites hardly any, since the binary they
# run is built without it. -timeout 28m: the crash-point sweep
# (test/sweep) runs 6 to 8 minutes on this project's two-core
# machines (up to three times that on a slow disk), and go test's
# default cuts a test binary off at 10.
TESTFLAGS ?= -race -shuffle=on -count=1 -p 4 -timeout 28m
VETFLAGS = -trimpath -tags osusergo,netgo

test:
	@echo "homepost: go vet, then go test $(TESTFLAGS) ./... (the first run downloads the modules and compiles everything twice, once with the race detector: a few minutes)"
	CGO_ENABLED=0 $(GO) vet $(VETFLAGS) ./...
	$(GO) run ./test/summary $(if $(V),-v) $(if $(TESTJSON),-json $(TESTJSON)) -- $(GO) test -json $(TESTFLAGS) ./...

# BENCHFLAGS: e.g. -dma PATH for a dma binary unpacked from its package
# (dma conflicts with Postfix as a package; see test/bench).
BENCHFLAGS ?=
# The two programs work in one directory, removed once both are done: a
# bench that removed its files at its end slowed the file creation of
# the next (test/bench/benchdir).
bench: build
	@d=$$(mktemp -d "$$HOME/.homepost-bench.XXXXXX") && \
	$(GO) run ./test/bench -bin ./homepost -sendmail ./sendmail -dir "$$d" $(BENCHFLAGS) && \
	$(GO) run ./test/bench/smtp -bin ./homepost -dir "$$d"; \
	rc=$$?; rm -rf "$$d"; exit $$rc
	$(GO) test -run '^$$' -bench . -benchtime 1x ./mailx/ ./relay/

include mk/install.mk

clean:
	rm -f homepost sendmail
