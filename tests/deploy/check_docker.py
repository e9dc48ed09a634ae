"""Checks of docker/*.Dockerfile without a Docker engine.

- each Dockerfile parses into instructions; stages are named and unique;
  every FROM is Debian 12 (bookworm) or an earlier stage;
- the final stage (and the signer's `dev` target) runs as a numeric
  non-root USER, has an exec-form ENTRYPOINT (no shell needed) and no
  HEALTHCHECK; the signer's production stage carries no SoftHSMv2;
- every COPY --from names an earlier stage, and what it copies from the
  build stage is a CMake executable the repository defines;
- every COPY source from the build context exists in the repository and
  is not excluded by /.dockerignore;
- the build stage COPYs every top-level CMake subdirectory, and the files
  it sends configure: `cmake` runs on a copy of exactly that context;
- the build stage installs only packages from scripts/install-deps;
- the runtime stage's packages provide every shared library the built
  binaries load (ldd on the binaries in SCEP_BUILD_DIR, dpkg for owners);
- docker/README.md runs the signer only in ways it starts: with TLS files
  or --insecure_plaintext.
hadolint is not packaged for Debian 12, so it is not used.
"""

import fnmatch
import json
import glob
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.environ.get("SCEP_BUILD_DIR", os.path.join(REPO, "build"))
IN_CI = os.environ.get("CI") == "true"

IMAGES = {
    # Dockerfile: {binary in the build tree: final stages that carry it}
    "gateway.Dockerfile": ["services/gateway/scep-gateway", "services/scepctl/scepctl"],
    "signer.Dockerfile": ["services/signer/scep-signer", "services/provision/scep-provision"],
}
# In debian:bookworm-slim already (Priority: required, or apt's own deps).
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


class Instruction:
    def __init__(self, line, keyword, args):
        self.line, self.keyword, self.args = line, keyword.upper(), args

    def flags_and_words(self):
        words = shlex.split(self.args, posix=True) if not self.args.lstrip().startswith("[") \
            else __import__("json").loads(self.args)
        flags = {}
        rest = []
        for word in words:
            if word.startswith("--") and not rest:
                name, _, value = word[2:].partition("=")
                flags[name] = value
            else:
                rest.append(word)
        return flags, rest


def parse_dockerfile(path):
    """Instructions with line continuations joined and comments dropped."""
    instructions, pending, start = [], "", 0
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if pending and line.lstrip().startswith("#"):
                continue
            if not pending:
                start = number
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            text = (pending + line).strip()
            pending = ""
            keyword, _, args = text.partition(" ")
            instructions.append(Instruction(start, keyword, args.strip()))
    if pending:
        raise AssertionError(f"{path}: ends inside a line continuation")
    return instructions


def stages(instructions):
    """[(name, base, [instructions])]; ARGs before the first FROM dropped."""
    result = []
    for ins in instructions:
        if ins.keyword == "FROM":
            words = ins.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append((name, words[0], []))
        elif result:
            result[-1][2].append(ins)
    return result


def run_packages(instructions):
    """Packages named by `apt-get install` in RUN instructions."""
    packages = []
    for ins in instructions:
        if ins.keyword != "RUN":
            continue
        for command in re.split(r"&&|;", ins.args):
            words = command.split()
            if "apt-get" in words and "install" in words:
                packages += [w for w in words[words.index("install") + 1:]
                             if not w.startswith("-")]
    return packages


def dockerignore_excludes(rel_path, patterns):
    """Docker's rule: the last pattern matching the path or a parent wins."""
    parts = rel_path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/")
        regex = fnmatch.translate(pat).replace(".*", "[^/]*").replace("[^/]*[^/]*", ".*")
        regex = regex.replace(r"\*\*", ".*")
        if pat.startswith("**/"):
            regex = "(?:.*/)?" + fnmatch.translate(pat[3:]).replace(".*", "[^/]*")
        if any(re.fullmatch(regex, p) for p in prefixes):
            excluded = not negate
    return excluded


def read_dockerignore():
    path = os.path.join(REPO, ".dockerignore")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def cmake_subdirectories():
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        text = re.sub(r"#.*", "", f.read())
    return re.findall(r"add_subdirectory\(\s*([^\s)]+)", text)


def cmake_executables(directory):
    path = os.path.join(REPO, directory, "CMakeLists.txt")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return re.findall(r"add_executable\(\s*([^\s)]+)", f.read())


def install_deps_packages():
    with open(os.path.join(REPO, "scripts", "install-deps")) as f:
        text = f.read()
    body = re.search(r"packages=\((.*?)\n\)", text, re.S).group(1)
    return {w for line in body.splitlines() for w in line.split("#")[0].split()}


def dpkg(*args):
    result = subprocess.run(["dpkg-query", *args], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else ""


def package_closure(packages):
    """Packages plus their Depends/Pre-Depends, from dpkg's database."""
    seen, todo, unknown = set(), list(packages), []
    while todo:
        package = todo.pop()
        if package in seen:
            continue
        seen.add(package)
        depends = dpkg("-W", "-f=${Status}|${Depends}, ${Pre-Depends}", package)
        if "install ok installed" not in depends:
            unknown.append(package)
            continue
        for alternative in depends.split("|", 1)[1].split(","):
            name = alternative.split("|")[0].strip().split(" ")[0].split(":")[0]
            if name:
                todo.append(name)
    return seen, unknown


class Dockerfiles(unittest.TestCase):
    def load(self, name):
        path = os.path.join(REPO, "docker", name)
        self.assertTrue(os.path.exists(path), path)
        return stages(parse_dockerfile(path))

    def test_stages_and_bases(self):
        for name in IMAGES:
            with self.subTest(dockerfile=name):
                parsed = self.load(name)
                names = [s[0] for s in parsed]
                self.assertTrue(all(names), "every stage is named (FROM ... AS name)")
                self.assertEqual(len(names), len(set(names)), "stage names are unique")
                self.assertIn("build", names)
                for index, (stage, base, _) in enumerate(parsed):
                    if base in names[:index]:
                        continue
                    self.assertRegex(base, r"^debian:(\$\{DEBIAN_RELEASE\}|bookworm)(-slim)?$",
                                     f"stage {stage}")
                self.assertNotEqual(parsed[-1][1], parsed[0][1],
                                    "the final stage is not the build image")

    def final_stages(self, name):
        parsed = self.load(name)
        finals = [parsed[-1]]
        finals += [s for s in parsed if s[0] == "dev"]
        return parsed, finals

    def effective(self, parsed, stage_name, keyword):
        """Last `keyword` instruction of a stage, following FROM <stage>."""
        by_name = {s[0]: s for s in parsed}
        stage = by_name[stage_name]
        while True:
            found = [i for i in stage[2] if i.keyword == keyword]
            if found:
                return found[-1]
            if stage[1] not in by_name:
                return None
            stage = by_name[stage[1]]

    def test_final_user_entrypoint_healthcheck(self):
        for name in IMAGES:
            parsed, finals = self.final_stages(name)
            for stage in finals:
                with self.subTest(dockerfile=name, stage=stage[0]):
                    user = self.effective(parsed, stage[0], "USER")
                    self.assertIsNotNone(user, "USER set")
                    uid = user.args.split(":")[0]
                    self.assertRegex(uid, r"^\d+$", "numeric USER (runAsNonRoot checks it)")
                    self.assertNotEqual(int(uid), 0, "non-root USER")
                    entrypoint = self.effective(parsed, stage[0], "ENTRYPOINT")
                    self.assertIsNotNone(entrypoint)
                    self.assertTrue(entrypoint.args.startswith("["),
                                    "exec-form ENTRYPOINT: no shell needed")
            everything = [i for s in parsed for i in s[2]]
            self.assertFalse([i for i in everything if i.keyword == "HEALTHCHECK"],
                             "Kubernetes probes, not HEALTHCHECK")

    def test_signer_production_has_no_softhsm(self):
        parsed = self.load("signer.Dockerfile")
        by_name = {s[0]: s for s in parsed}
        chain, stage = [], parsed[-1]
        while stage:
            chain.append(stage)
            stage = by_name.get(stage[1])
        packages = [p for s in chain for p in run_packages(s[2])]
        self.assertNotIn("dev", [s[0] for s in chain])
        self.assertFalse([p for p in packages if "softhsm" in p], packages)
        self.assertIn("softhsm2", run_packages(by_name["dev"][2]))

    def test_copy_sources(self):
        ignore = read_dockerignore()
        for name, binaries in IMAGES.items():
            parsed = self.load(name)
            names = [s[0] for s in parsed]
            copied_binaries = []
            for index, (stage, _, instructions) in enumerate(parsed):
                for ins in instructions:
                    if ins.keyword not in ("COPY", "ADD"):
                        continue
                    with self.subTest(dockerfile=name, line=ins.line):
                        self.assertEqual(ins.keyword, "COPY", "COPY, not ADD")
                        flags, words = ins.flags_and_words()
                        sources = words[:-1]
                        self.assertTrue(sources, "COPY has a source and a destination")
                        if "from" in flags:
                            self.assertIn(flags["from"], names[:index],
                                          "COPY --from names an earlier stage")
                            for source in sources:
                                match = re.match(r"^/src/build/(.+)/([^/]+)$", source)
                                self.assertTrue(match, f"{source}: from the build tree")
                                self.assertIn(match.group(2), cmake_executables(match.group(1)),
                                              f"{source}: an executable CMake defines")
                                copied_binaries.append(f"{match.group(1)}/{match.group(2)}")
                            continue
                        for source in sources:
                            matches = glob.glob(os.path.join(REPO, source))
                            self.assertTrue(matches, f"{source}: exists in the repository")
                            rel = os.path.relpath(matches[0], REPO)
                            self.assertFalse(dockerignore_excludes(rel, ignore),
                                             f"{source}: excluded by .dockerignore")
            self.assertEqual(sorted(copied_binaries), sorted(binaries), name)

    def test_dockerignore_matcher(self):
        patterns = ["*", "!services/", "**/__pycache__", "!docker/a.conf"]
        self.assertTrue(dockerignore_excludes("build/x", patterns))
        self.assertFalse(dockerignore_excludes("services/gateway/main.cc", patterns))
        self.assertTrue(dockerignore_excludes("services/__pycache__/x.pyc", patterns))
        self.assertFalse(dockerignore_excludes("docker/a.conf", patterns))
        self.assertTrue(dockerignore_excludes("docker/b.conf", patterns))
        # The real file keeps the local state out of every image.
        for secret in ("var/secrets/hsm-pin", "build/CMakeCache.txt", ".git/config"):
            self.assertTrue(dockerignore_excludes(secret, read_dockerignore()), secret)

    def build_context_copies(self, name):
        parsed = self.load(name)
        build = [s for s in parsed if s[0] == "build"][0]
        return [ins.flags_and_words()[1] for ins in build[2]
                if ins.keyword == "COPY" and "from" not in ins.flags_and_words()[0]]

    def test_build_stage_copies_every_cmake_subdirectory(self):
        for name in IMAGES:
            with self.subTest(dockerfile=name):
                copied = {os.path.normpath(w[0]) for w in self.build_context_copies(name)}
                self.assertIn("CMakeLists.txt", copied)
                missing = [d for d in cmake_subdirectories() if d not in copied]
                self.assertEqual(missing, [], "top-level CMake subdirectories not copied")

    def test_build_stage_packages_come_from_install_deps(self):
        allowed = install_deps_packages()
        for name in IMAGES:
            with self.subTest(dockerfile=name):
                build = [s for s in self.load(name) if s[0] == "build"][0]
                packages = run_packages(build[2])
                self.assertTrue(packages)
                self.assertEqual([p for p in packages if p not in allowed], [],
                                 "build packages missing from scripts/install-deps")

    def test_build_context_configures(self):
        """The files the build stage COPYs are enough for CMake to configure."""
        if not shutil.which("cmake"):
            self.skipTest("cmake is not installed")
        ignore = read_dockerignore()
        copies = self.build_context_copies("signer.Dockerfile")
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "src")
            os.makedirs(src)
            for words in copies:
                sources, destination = words[:-1], words[-1]
                for source in sources:
                    origin = os.path.join(REPO, source)
                    target = os.path.join(src, destination)
                    if os.path.isdir(origin):
                        for root, dirs, files in os.walk(origin):
                            for file in files:
                                full = os.path.join(root, file)
                                rel = os.path.relpath(full, REPO)
                                if dockerignore_excludes(rel, ignore):
                                    continue
                                out = os.path.join(target, os.path.relpath(full, origin))
                                os.makedirs(os.path.dirname(out), exist_ok=True)
                                shutil.copy2(full, out)
                    else:
                        out = os.path.join(target, os.path.basename(source)) \
                            if destination.endswith("/") else target
                        os.makedirs(os.path.dirname(out), exist_ok=True)
                        shutil.copy2(origin, out)
            generator = ["-G", "Ninja"] if shutil.which("ninja") else []
            result = subprocess.run(
                ["cmake", "-S", src, "-B", os.path.join(tmp, "build"), *generator,
                 "-DCMAKE_BUILD_TYPE=Release"], capture_output=True, text=True, timeout=300)
            self.assertEqual(result.returncode, 0, result.stdout[-3000:] + result.stderr[-3000:])

    def test_runtime_packages_provide_shared_libraries(self):
        if not shutil.which("ldd") or not shutil.which("dpkg-query"):
            self.skipTest("ldd/dpkg-query not available")
        for name, binaries in IMAGES.items():
            parsed = self.load(name)
            runtime = [s for s in parsed if s[0] == "runtime"][0]
            listed = set(run_packages(runtime[2]))
            closure, unknown = package_closure(listed)
            self.assertEqual(unknown, [], f"{name}: runtime packages dpkg does not know")
            for binary in binaries:
                path = os.path.join(BUILD_DIR, binary)
                with self.subTest(binary=binary):
                    if not os.path.exists(path):
                        message = f"{path} is not built"
                        if IN_CI:
                            self.fail(message)
                        self.skipTest(message)
                    ldd = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
                    libraries = re.findall(r"=>\s+(/\S+)", ldd)
                    self.assertTrue(libraries)
                    missing = []
                    for library in libraries:
                        owner = dpkg("-S", os.path.realpath(library)) or dpkg("-S", library)
                        package = owner.split(":")[0].strip()
                        if not package:
                            missing.append(f"{library} (no Debian package)")
                        elif package not in closure and package not in BASE_PACKAGES:
                            missing.append(f"{library} ({package})")
                    self.assertEqual(missing, [], f"{name}: libraries the runtime stage lacks")



class DevDefaults(unittest.TestCase):
    def test_dev_signer_starts_with_its_default_command(self):
        """The dev image run with no arguments: its CMD must give
        --insecure_plaintext (or TLS files), which scep-signer requires."""
        with open(os.path.join(REPO, "docker", "signer.Dockerfile")) as f:
            text = f.read()
        dev = text.split("AS dev", 1)[1].split("\nFROM ", 1)[0]
        cmd = re.search(r"^CMD (\[.*?\])", dev, re.S | re.M)
        self.assertIsNotNone(cmd, "the dev stage has no CMD")
        args = json.loads(cmd.group(1).replace("\\\n", ""))
        self.assertTrue("--insecure_plaintext" in args or
                        (any(a.startswith("--tls_cert=") for a in args) and
                         any(a.startswith("--tls_key=") for a in args)), args)


class Readme(unittest.TestCase):
    def test_signer_examples_start(self):
        """scep-signer refuses to start without --tls_cert and --tls_key or
        --insecure_plaintext: every `docker run` of its image in
        docker/README.md gives one (scep-provision runs from that image
        too, by --entrypoint, and needs neither)."""
        with open(os.path.join(REPO, "docker", "README.md")) as f:
            text = f.read()
        runs = re.findall(r"docker run (?:[^\n]*\\\n)*[^\n]*", text)
        signer = [r for r in runs if re.search(r"\bscep-signer:", r) and "--entrypoint" not in r]
        self.assertTrue(signer, "no docker run of the signer found")
        for run in signer:
            self.assertTrue("--insecure_plaintext" in run or
                            ("--tls_cert=" in run and "--tls_key=" in run), run)


if __name__ == "__main__":
    unittest.main(verbosity=2)
