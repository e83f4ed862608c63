# Thin wrapper: the real work is in CMakePresets.json and scripts/.
.PHONY: all deps build test coverage tidy demo bench format format-check clean package

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release

test: deps
	@scripts/check.sh

coverage: deps
	@scripts/coverage.sh

tidy: deps
	@scripts/tidy.sh

format:
	@scripts/format.sh

format-check:
	@scripts/format.sh --check

# The Debian packages (cmake/BatonPackage.cmake): a release build installed under /usr, so
# the libraries go to Debian's multiarch libdir, with Debian's hardening flags (no -g: the
# packages ship no debug symbols); prints the .deb paths.
DEB_FLAGS = DEB_BUILD_MAINT_OPTIONS=hardening=+all DEB_CXXFLAGS_MAINT_STRIP=-g dpkg-buildflags --get
package: deps
	@cmake -S . -B build/package -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
		-DCMAKE_CXX_FLAGS="$$($(DEB_FLAGS) CXXFLAGS) $$($(DEB_FLAGS) CPPFLAGS)" \
		-DCMAKE_EXE_LINKER_FLAGS="$$($(DEB_FLAGS) LDFLAGS)" \
		-DBATON_BUILD_TESTS=OFF -DBATON_WARNINGS_AS_ERRORS=ON >/dev/null
	@cmake --build build/package
	@rm -f build/package/*.deb
	@cd build/package && cpack -G DEB >/dev/null
	@ls -1 "$$PWD"/build/package/*.deb

clean:
	rm -rf build

demo: deps
	@bench/seed/demo.sh

bench: deps
	@bench/seed/run.sh
