import Foundation
import XCTest
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A private one-node Slurm cluster on 127.0.0.1 for one test: its own munged (key, socket, pid
/// and log in a temporary directory), slurmctld and slurmd on free ports, configured by a
/// slurm.conf in that directory (`SLURM_CONF`), so nothing under /etc is read or written and
/// several can run at once. The daemons run in the foreground as children of the test and are
/// stopped, by pid, by `stop()` (call it in a `defer`; deinit does too).
///
/// Debian's slurm-wlm and munge (scripts/install-deps.sh); run as root, as CI does, the jobs run as
/// root too.
final class LocalSlurm {
    struct StartFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// Short, under /tmp: munged's socket path must fit in a sockaddr_un (108 bytes).
    let directory: String
    private(set) var node = ""
    /// For slurm clients (sbatch, sinfo, …): the test's own, less any SLURM_ variables of an outer
    /// Slurm job, plus `SLURM_CONF`.
    let environment: [String: String]
    private var daemons: [Daemon] = []

    /// Starts munged, slurmctld and slurmd, and waits until `sinfo` shows the node idle; throws
    /// `StartFailure` with the daemons' log tails when that does not happen (having stopped
    /// whatever it started).
    init() throws {
        var template = Array("/tmp/fer-slurm.XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw StartFailure(description: "cannot make a temporary directory: \(String(cString: strerror(errno)))")
        }
        directory = String(cString: made)
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SLURM_") }
        env["SLURM_CONF"] = directory + "/slurm.conf"
        environment = env
        do {
            try start()
        } catch {
            stop()
            throw error
        }
    }

    deinit { stop() }

    private func start() throws {
        for tool in ["munged", "slurmctld", "slurmd", "sinfo", "sbatch", "scancel"] where Self.which(tool) == nil {
            throw StartFailure(description: "\(tool) is not installed: scripts/install-deps.sh installs slurm-wlm and munge")
        }
        let key = directory + "/munge.key"
        var bytes = [UInt8](repeating: 0, count: 1024)
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
        guard FileManager.default.createFile(atPath: key, contents: Data(bytes), attributes: [.posixPermissions: 0o400]) else {
            throw StartFailure(description: "cannot write \(key)")
        }
        let socket = directory + "/munge.socket"
        try launch("munged", ["--foreground", "--force", "--key-file=\(key)", "--socket=\(socket)", "--pid-file=\(directory)/munged.pid",
                              "--log-file=\(directory)/munged.log", "--seed-file=\(directory)/munged.seed"])
        try waitUntil("munged to make \(socket)") { FileManager.default.fileExists(atPath: socket) }

        let hardware = try Self.hardware()
        node = hardware.node
        let ports = try (0..<2).map { _ in try LoopbackSocket(listening: false) }  // both held: two different ports
        let user = String(cString: getpwuid(geteuid()).pointee.pw_name)
        for sub in ["state", "spool"] {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: false)
        }
        let conf = """
            ClusterName=fertest
            SlurmctldHost=\(node)(127.0.0.1)
            SlurmctldPort=\(ports[0].port)
            SlurmdPort=\(ports[1].port)
            AuthType=auth/munge
            CredType=cred/munge
            AuthInfo=socket=\(socket)
            SlurmUser=\(user)
            SlurmdUser=\(user)
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            JobAcctGatherType=jobacct_gather/none
            SelectType=select/cons_tres
            SchedulerType=sched/builtin
            MpiDefault=none
            MailProg=/bin/true
            ReturnToService=2
            # sbatch --wait polls every 2 s when MinJobAge/2 (whole seconds) is at most 2, otherwise
            # after 2, 8, 32 s; a finished job stays queryable for at least MinJobAge.
            MinJobAge=5
            StateSaveLocation=\(directory)/state
            SlurmdSpoolDir=\(directory)/spool
            SlurmctldPidFile=\(directory)/slurmctld.pid
            SlurmdPidFile=\(directory)/slurmd.pid
            SlurmctldLogFile=\(directory)/slurmctld.log
            SlurmdLogFile=\(directory)/slurmd.log
            \(hardware.line) NodeAddr=127.0.0.1 State=UNKNOWN
            PartitionName=debug Nodes=\(node) Default=YES MaxTime=INFINITE State=UP

            """
        try conf.write(toFile: environment["SLURM_CONF"]!, atomically: true, encoding: .utf8)
        ports.forEach { $0.close() }
        try launch("slurmctld", ["-D"])
        try launch("slurmd", ["-D"])
        var last = ""
        try waitUntil("the node to be idle in sinfo (last: '\(last)')") {
            last = (try? self.client("sinfo", ["-h", "-N", "-n", self.node, "-o", "%T"], timeout: 10).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? ""
            return last == "idle"
        }
    }

    /// `slurmd -C`: this machine's node line (CPUs, sockets, cores, threads) without RealMemory,
    /// which, set above what slurmd then measures, would drain the node.
    private static func hardware() throws -> (node: String, line: String) {
        let r = try CLI.run(which("slurmd") ?? "/usr/sbin/slurmd", ["-C"])
        guard r.status == 0, let line = r.lines.first(where: { $0.hasPrefix("NodeName=") }) else {
            throw StartFailure(description: "slurmd -C failed (status \(r.status)): \(r.stderr)")
        }
        let fields = line.split(separator: " ").filter { !$0.hasPrefix("RealMemory=") }
        return (String(fields[0].dropFirst("NodeName=".count)), fields.joined(separator: " "))
    }

    private func launch(_ name: String, _ arguments: [String]) throws {
        // Foreground daemons print to stderr as well as to their log files: keep it for the report.
        daemons.append(try Daemon(name: name, path: Self.which(name)!, arguments: arguments, environment: environment,
                                  output: directory + "/\(name).stderr"))
    }

    /// Polls `condition` (bounded: 30 s), failing at once when a daemon has exited.
    private func waitUntil(_ what: @autoclosure () -> String, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(30)
        while true {
            if let dead = daemons.first(where: { !$0.isRunning }) {
                throw StartFailure(description: "Slurm did not start: \(dead.name) exited (\(dead.exit))\n" + logs())
            }
            if condition() { return }
            guard Date() < deadline else { throw StartFailure(description: "Slurm did not start: no \(what()) within 30 s\n" + logs()) }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    /// The last lines of each daemon's log file, or of its stderr where the log file is still empty
    /// (in the foreground, the daemons write both, until their log file is open).
    func logs(lines: Int = 15) -> String {
        func read(_ name: String) -> String? {
            let text = (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            return text?.isEmpty == false ? text : nil
        }
        return ["munged", "slurmctld", "slurmd"].compactMap { daemon in
            guard let (name, text) = read(daemon + ".log").map({ (daemon + ".log", $0) }) ?? read(daemon + ".stderr").map({ (daemon + ".stderr", $0) })
            else { return nil }
            return "--- \(name) (last \(lines) lines):\n" + text.split(separator: "\n").suffix(lines).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// A Slurm client command against this cluster, killed after `timeout` seconds (status 124).
    func client(_ tool: String, _ arguments: [String], environment extra: [String: String] = [:], timeout: Int = 60) throws -> CLI.Result {
        try CLI.run("/usr/bin/timeout", ["\(timeout)", tool] + arguments, environment: environment.merging(extra) { $1 })
    }

    /// `sbatch ARGUMENTS`, the job's environment being the test's plus `extra` (sbatch exports all).
    func sbatch(_ arguments: [String], environment extra: [String: String] = [:], timeout: Int = 300) throws -> CLI.Result {
        try client("sbatch", arguments, environment: extra, timeout: timeout)
    }

    /// Cancels any job still running, then stops slurmd, slurmctld and munged (SIGTERM, then
    /// SIGKILL after 20 s) and removes the directory. Safe to call more than once.
    func stop() {
        if daemons.contains(where: { $0.name == "slurmctld" && $0.isRunning }) {
            _ = try? client("scancel", ["--full", "--user", String(cString: getpwuid(geteuid()).pointee.pw_name)], timeout: 15)
            let deadline = Date().addingTimeInterval(15)
            while Date() < deadline, let q = try? client("squeue", ["-h"], timeout: 10), q.status == 0, !q.stdout.isEmpty {
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
        for daemon in daemons.reversed() { daemon.stop() }
        daemons.removeAll()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func which(_ tool: String) -> String? {
        ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin"].map { "\($0)/\(tool)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// A daemon started with posix_spawn, not Foundation's Process: slurmctld and slurmd close every
/// inherited descriptor, which Process takes for the child's exit and then blocks its run loop in
/// waitpid for good. This type alone waits for (reaps) its pid.
final class Daemon {
    let name: String
    let pid: pid_t
    private var status: Int32?

    init(name: String, path: String, arguments: [String], environment: [String: String], output: String) throws {
        self.name = name
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of the test process (its pipes to swift-test, Foundation's sockets) goes with
        // it. glibc ≥ 2.34 has the call; Swift's Glibc module does not declare it.
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
        }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var child = pid_t()
        let error = posix_spawn(&child, path, &actions, nil, argv, envp)
        guard error == 0 else {
            throw LocalSlurm.StartFailure(description: "cannot start \(path): \(String(cString: strerror(error)))")
        }
        pid = child
    }

    /// False once it has exited (and been reaped).
    var isRunning: Bool {
        if status != nil { return false }
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == pid else { return true }
        status = raw
        return false
    }

    /// How it ended, in words.
    var exit: String {
        guard let raw = status else { return "running" }
        return raw & 0x7f == 0 ? "status \((raw >> 8) & 0xff)" : "signal \(raw & 0x7f)"
    }

    /// SIGTERM, then SIGKILL if it is still there after 20 s; returns once it is reaped.
    func stop() {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(20)
        while isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        guard isRunning else { return }
        kill(pid, SIGKILL)
        var raw: Int32 = 0
        if waitpid(pid, &raw, 0) == pid { status = raw }
    }

    deinit { stop() }
}
