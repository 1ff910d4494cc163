# farm's build, test and demo entry points. `make test` and `make demo` do
# all set-up on a fresh Debian machine (they install what is missing).

GO      ?= go
TAGS    := remote exclude_graphdriver_btrfs containers_image_openpgp
BIN     := bin/farm
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export CGO_ENABLED := 0

.PHONY: all build install test unit e2e farm-start farm-stop bench lint demo docs docs-check fuzz clean

# Where make install puts the binary, its man pages and shell completions;
# DESTDIR is prepended to every path (for packaging).
PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d

# Fixed date in generated man pages, so they only change with the commands.
export SOURCE_DATE_EPOCH := 1767225600

all: build

build: ## Build bin/farm
	$(GO) build -tags '$(TAGS)' -ldflags '-X github.com/farmbuild/farm/cmd.version=$(VERSION)' -o $(BIN) ./cmd/farm

install: build ## Install farm, its man pages and bash, zsh and fish completions under $(DESTDIR)$(PREFIX)
	install -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(MANDIR)/man1' '$(DESTDIR)$(BASHCOMPDIR)' '$(DESTDIR)$(ZSHCOMPDIR)' '$(DESTDIR)$(FISHCOMPDIR)'
	install -m 0755 '$(BIN)' '$(DESTDIR)$(BINDIR)/farm'
	install -m 0644 docs/reference/man/*.1 '$(DESTDIR)$(MANDIR)/man1/'
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		'$(BIN)' completion bash >"$$tmp/farm" && '$(BIN)' completion zsh >"$$tmp/_farm" && '$(BIN)' completion fish >"$$tmp/farm.fish" && \
		install -m 0644 "$$tmp/farm" '$(DESTDIR)$(BASHCOMPDIR)/farm' && \
		install -m 0644 "$$tmp/_farm" '$(DESTDIR)$(ZSHCOMPDIR)/_farm' && \
		install -m 0644 "$$tmp/farm.fish" '$(DESTDIR)$(FISHCOMPDIR)/farm.fish'

unit: ## Unit tests (no engines needed), with the race detector
	CGO_ENABLED=1 $(GO) test -race -tags '$(TAGS)' -count=1 ./...

e2e: build ## End-to-end tests against a running test farm (hack/testfarm.sh start)
	hack/run-e2e.sh

test: ## Install what is missing, lint, start the test farm, run unit (-race) and e2e tests, stop the farm
	hack/run-tests.sh

farm-start: ## Start the local test farm
	hack/testfarm.sh start

farm-stop: ## Stop the local test farm
	hack/testfarm.sh stop

fuzz: ## Run each fuzz target for a while
	for t in platform:FuzzParsePlatform platform:FuzzParseBinfmt transport:FuzzParseDestination containerfile:FuzzParse containerfile:FuzzCheck containerfile:FuzzWritableMounts buildcontext:FuzzParseKey buildcontext:FuzzUpload buildcontext/nodecache:FuzzParsePrepared logline:FuzzSanitize logline:FuzzSplitter bake:FuzzParseHCL bake:FuzzParseJSON bake:FuzzParseCompose; do \
		$(GO) test -tags '$(TAGS)' ./$${t%%:*} -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime 30s || exit 1; done

bench: build ## Benchmarks on the test farm, written to docs/benchmarks.md
	hack/bench.sh

lint: docs-check ## gofmt, go vet, shellcheck, generated docs current
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed on: $$out"; exit 1; fi
	shellcheck -x hack/*.sh hack/testfarm/*.sh .ci/run
	$(GO) run $(STATICCHECK) -tags '$(TAGS)' ./...
	$(GO) run $(STATICCHECK) -tags '$(TAGS) e2e' ./cmd
	$(GO) vet -tags '$(TAGS)' ./...
	$(GO) vet -tags '$(TAGS) e2e' ./cmd

demo: build ## Start the test farm and show it at work
	hack/demo.sh

docs: ## Generate the command reference into docs/reference
	rm -rf docs/reference
	$(GO) run -tags '$(TAGS)' ./hack/gendocs docs/reference

docs-check: ## Fail when docs/reference does not match the commands (run make docs)
	@tmp=$$(mktemp -d) && $(GO) run -tags '$(TAGS)' ./hack/gendocs $$tmp/reference && \
		if ! diff -r $$tmp/reference docs/reference >/dev/null; then \
			echo "docs/reference is out of date: run make docs"; diff -r $$tmp/reference docs/reference | head -20; rm -rf $$tmp; exit 1; fi; \
		rm -rf $$tmp

clean:
	rm -rf bin
