import Foundation
import Synchronization
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A server program (mosquitto, redis-server) a test starts on a free loopback port, in its own
/// temporary directory, and stops by its pid. `start` throws (and the test fails) when the program
/// is missing or its port never opens: CI installs them, so a missing one is a broken setup.
public final class Service {
    public let program: String
    public let port: Int
    public let directory: URL
    private let arguments: [String]
    private var process: Process?

    /// `arguments` may use `{port}` and `{dir}`.
    public init(program: String, arguments: [String], port: Int? = nil) throws {
        self.program = program
        let port = try port ?? freePort()
        let directory = try Scratch.directory(program)
        self.port = port
        self.directory = directory
        self.arguments = arguments.map {
            $0.replacingOccurrences(of: "{port}", with: "\(port)").replacingOccurrences(of: "{dir}", with: directory.path)
        }
    }

    /// A mosquitto broker allowing anonymous clients; `persistent`: it keeps retained messages and
    /// sessions across a restart (saved when stopped).
    public static func mosquitto(persistent: Bool = false) throws -> Service {
        let s = try Service(program: "mosquitto", arguments: ["-c", "{dir}/mosquitto.conf"])
        var conf = "listener \(s.port) 127.0.0.1\nallow_anonymous true\n"
        if persistent {
            // Run as root, mosquitto would switch to the `mosquitto` user and could not write here.
            conf += "persistence true\npersistence_location \(s.directory.path)/\nuser \(currentUser())\n"
        }
        try conf.write(to: s.directory.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
        return s
    }

    public static func redis() throws -> Service {
        try Service(program: "redis-server",
                    arguments: ["--port", "{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", "{dir}"])
    }

    /// Starts the program and waits (at most 15 s) until its port takes connections.
    public func start() throws {
        guard let path = Self.find(program) else { throw ServiceError("\(program) is not installed (scripts/install-deps.sh)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let log = directory.appendingPathComponent("\(program).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let out = try FileHandle(forWritingTo: log)
        out.seekToEndOfFile()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(15)
        while !portAccepts(port) {
            if !p.isRunning || Date() > deadline {
                stop()
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                throw ServiceError("\(program) did not open port \(port): \(text.suffix(500))")
            }
            usleep(20_000)
        }
    }

    /// SIGTERM, then waits for it to exit.
    public func stop() {
        guard let p = process else { return }
        if p.isRunning { kill(p.processIdentifier, SIGTERM) }
        p.waitUntilExit()
        process = nil
    }

    deinit { stop() }

    /// `program` on PATH or in the sbin directories (mosquitto lives in /usr/sbin).
    public static func find(_ program: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let dirs = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin"]
        return dirs.map { "\($0)/\(program)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

public struct ServiceError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Starts `service`; a failure to start is a test failure (XCTFail), never a skip.
public func started(_ service: Service, file: StaticString = #filePath, line: UInt = #line) throws -> Service {
    do {
        try service.start()
    } catch {
        XCTFail("\(error)", file: file, line: line)
        throw error
    }
    return service
}

/// `mosquitto_sub -v` writing to a file: each line "topic payload".
public final class Subscriber {
    private let process = Process()
    private let output: URL

    /// `clientID`: a persistent session at QoS 1 (the broker keeps our messages while we are away).
    public init(port: Int, topic: String, clientID: String? = nil) throws {
        guard let path = Service.find("mosquitto_sub") else { throw ServiceError("mosquitto_sub is not installed (mosquitto-clients)") }
        output = URL(fileURLWithPath: Scratch.path("sub.txt"))
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: path)
        var args = ["-h", "127.0.0.1", "-p", "\(port)", "-v", "-t", topic]
        if let clientID { args += ["-c", "-i", clientID, "-q", "1"] }
        process.arguments = args
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Complete lines so far, split into topic and payload.
    public var messages: [(topic: String, payload: String)] {
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeLast()  // the part after the last newline: incomplete or empty
        return lines.map { line in
            let space = line.firstIndex(of: " ") ?? line.endIndex
            return (String(line[..<space]), space < line.endIndex ? String(line[line.index(after: space)...]) : "")
        }
    }

    public func payloads(on topic: String) -> [String] { messages.filter { $0.topic == topic }.map(\.payload) }

    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// The retained message on `topic`, as a new subscriber gets it (nil if none within 5 s).
public func retained(port: Int, topic: String) throws -> String? {
    guard let path = Service.find("mosquitto_sub") else { throw ServiceError("mosquitto_sub is not installed") }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-t", topic, "-C", "1", "-W", "5"]
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
    return text.isEmpty ? nil : text
}

/// Lines a publisher logs, kept for the test to count.
public final class LogLines: Sendable {
    public init() {}
    private let lines = Mutex<[String]>([])
    public var all: [String] { lines.withLock { $0 } }
    public var sink: @Sendable (String) -> Void { { [self] line in lines.withLock { $0.append(line) } } }
    public func count(containing text: String) -> Int { all.filter { $0.contains(text) }.count }
}

/// Polls `condition` until it holds or `seconds` pass (generous: a waiting test, not a timed one).
public func eventually(_ seconds: Double = 30, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline { return false }
        usleep(20_000)
    }
    return true
}

public func freePort() throws -> Int {
    let s = try LoopbackSocket(listening: false)
    defer { s.close() }
    return s.port
}

public func portAccepts(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

private func currentUser() -> String {
    guard let pw = getpwuid(getuid()) else { return "root" }
    return String(cString: pw.pointee.pw_name)
}
