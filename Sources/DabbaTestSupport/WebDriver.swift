import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal W3C WebDriver client for page tests: starts `chromedriver` on a free loopback port as a
/// `ManagedProcess`, opens a headless Chromium session, navigates and runs scripts. Every call is bounded.
///
/// ```swift
/// let driver = try await WebDriver.start(directory: dir)
/// defer { driver.stop() }
/// let session = try await driver.newSession()
/// try await session.navigate(to: "http://127.0.0.1:\(port)/")
/// let title = try await session.execute("return document.title") as? String
/// try await session.delete()
/// ```
public final class WebDriver: Sendable {
    public let process: ManagedProcess
    public let port: Int

    /// `chromedriver` and `chromium` on this machine, or nil when either is missing.
    public static var executables: (driver: String, browser: String)? {
        guard let driver = findExecutable("chromedriver"),
            let browser = findExecutable("chromium") ?? findExecutable("chromium-browser")
                ?? findExecutable("google-chrome")
        else { return nil }
        return (driver, browser)
    }

    /// True when page tests can run here.
    public static var isAvailable: Bool { executables != nil }

    init(process: ManagedProcess, port: Int) {
        self.process = process
        self.port = port
    }

    /// Starts `chromedriver --port=<free port>` (log in `directory`) and waits until it answers `/status`.
    public static func start(directory: TestDirectory, timeout: Duration = .seconds(60)) async throws -> WebDriver {
        guard let driver = executables?.driver else {
            throw TestSupportError("chromium or chromedriver is not installed")
        }
        let port = FreePort.next()
        let process = try ManagedProcess(
            name: "chromedriver", executable: driver, arguments: ["--port=\(port)", "--allowed-ips=127.0.0.1"],
            logDirectory: directory.url)
        let client = WebDriver(process: process, port: port)
        let deadline = ContinuousClock.now + timeout
        var last = "no answer"
        while ContinuousClock.now < deadline {
            do {
                let status = try await client.request("GET", "/status", timeout: 2) as? [String: Any]
                if truthy(status?["ready"]) { return client }
                last = "status \(String(describing: status))"
            } catch {
                last = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        process.stop()
        throw TestSupportError("chromedriver did not become ready in \(timeout) (\(last)): \(process.output())")
    }

    /// Stops chromedriver (its browsers go with it).
    public func stop() { process.stop() }

    /// A headless Chromium session (`--headless=new --no-sandbox --disable-gpu`, a throwaway profile in `directory`;
    /// sessions open at once need different `profile` folder names).
    public func newSession(
        directory: TestDirectory, profile: String = "chromium-profile", windowSize: String = "1280,900"
    ) async throws -> Session {
        guard let browser = Self.executables?.browser else { throw TestSupportError("chromium is not installed") }
        let options: [String: Any] = [
            "binary": browser,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--window-size=\(windowSize)", "--user-data-dir=\(directory.path(profile))",
            ],
        ]
        let body: [String: Any] = [
            "capabilities": ["alwaysMatch": ["browserName": "chrome", "goog:chromeOptions": options]]
        ]
        let value = try await request("POST", "/session", body: body, timeout: 60)
        guard let id = (value as? [String: Any])?["sessionId"] as? String else {
            throw TestSupportError("chromedriver: no sessionId in \(String(describing: value))")
        }
        return Session(driver: self, id: id)
    }

    /// One WebDriver session.
    public struct Session: Sendable {
        let driver: WebDriver
        public let id: String

        /// Loads `url` and waits for the page load (bounded by `timeout` seconds).
        public func navigate(to url: String, timeout: TimeInterval = 30) async throws {
            _ = try await driver.request("POST", "/session/\(id)/url", body: ["url": url], timeout: timeout)
        }

        /// Runs `script` (a function body; `arguments[i]` are `args`) in the page and returns its JSON result.
        @discardableResult
        public func execute(_ script: String, _ args: [Any] = [], timeout: TimeInterval = 10) async throws -> Any? {
            try await driver.request(
                "POST", "/session/\(id)/execute/sync", body: ["script": script, "args": args], timeout: timeout)
        }

        /// Runs `script` every `interval` until it returns something other than null/false, or `timeout` passes
        /// (then nil). Script errors count as not yet.
        public func waitFor(
            _ script: String, _ args: [Any] = [], timeout: Duration = TestDeadline.generous,
            interval: Duration = .milliseconds(200)
        ) async throws -> Any? {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if let value = try? await execute(script, args), truthy(value) { return value }
                try await Task.sleep(for: interval)
            }
            return nil
        }

        /// Closes the browser window and ends the session.
        public func delete() async throws {
            _ = try await driver.request("DELETE", "/session/\(id)", timeout: 15)
        }
    }

    /// One WebDriver command: JSON in, the response's `value` out; a WebDriver error becomes a `TestSupportError`.
    func request(_ method: String, _ path: String, body: [String: Any]? = nil, timeout: TimeInterval) async throws
        -> Any?
    {
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        let port = self.port
        // Plain HTTP/1.1 over a socket on its own thread (Foundation's URLSession on Linux fails against chromedriver
        // with "Failed writing header"; a blocking call must not hold a cooperative thread for a page load).
        let (status, data): (Int, Data) = try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(
                    with: Result {
                        try LoopbackHTTP.exchange(
                            port: port, method: method, path: path, body: payload, timeout: timeout)
                    })
            }.start()
        }
        let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) as? [String: Any]
        let value = object?["value"]
        if status != 200 {
            let error = (value as? [String: Any]).map { "\($0["error"] ?? "?"): \($0["message"] ?? "")" }
            throw TestSupportError(
                "WebDriver \(method) \(path): HTTP \(status) \(error ?? String(decoding: data, as: UTF8.self))")
        }
        return value
    }
}

/// A blocking HTTP/1.1 exchange with 127.0.0.1 (`Connection: close`; Content-Length or read-to-end bodies, chunked
/// decoded), bounded by `timeout` per socket operation; `headers` are added as given (`Name: value`).
public enum LoopbackHTTP {
    public static func exchange(
        port: Int, method: String, path: String, body: Data, headers: [String] = [], timeout: TimeInterval
    ) throws -> (Int, Data) {
        let fd = try FreePort.connectedSocket(port: port, timeout: timeout)
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for header in headers { head += header + "\r\n" }
        head += "Content-Type: application/json; charset=utf-8\r\nContent-Length: \(body.count)\r\n\r\n"
        var request = Data(head.utf8)
        request.append(body)
        try request.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                guard n > 0 else { throw TestSupportError("send to 127.0.0.1:\(port) failed: errno \(errno)") }
                sent += n
            }
        }
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { break }
            guard n > 0 else { throw TestSupportError("no answer from 127.0.0.1:\(port)\(path) (errno \(errno))") }
            response.append(contentsOf: buffer[0..<n])
            if let (status, body) = parse(response) { return (status, body) }
        }
        guard let parsed = parse(response, complete: true) else {
            throw TestSupportError("bad HTTP answer from \(path)")
        }
        return parsed
    }

    /// Status and body once the answer is whole (by Content-Length or chunked end; at EOF when `complete`).
    static func parse(_ data: Data, complete: Bool = false) -> (Int, Data)? {
        guard let split = data.firstRange(of: Data("\r\n\r\n".utf8)) else { return nil }
        let head = String(decoding: data[..<split.lowerBound], as: UTF8.self).lowercased()
        let lines = head.components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
        let body = Data(data[split.upperBound...])
        if let length = lines.first(where: { $0.hasPrefix("content-length:") }).flatMap({
            Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces))
        }) {
            return body.count >= length ? (status, body.prefix(length)) : nil
        }
        if lines.contains(where: { $0.hasPrefix("transfer-encoding:") && $0.contains("chunked") }) {
            var rest = body[...]
            var out = Data()
            while let end = rest.firstRange(of: Data("\r\n".utf8)) {
                guard
                    let size = Int(
                        String(decoding: rest[..<end.lowerBound], as: UTF8.self).split(separator: ";")[0], radix: 16)
                else { return nil }
                if size == 0 { return (status, out) }
                let start = end.upperBound
                guard rest.distance(from: start, to: rest.endIndex) >= size + 2 else { return nil }
                let stop = rest.index(start, offsetBy: size)
                out.append(rest[start..<stop])
                rest = rest[rest.index(stop, offsetBy: 2)...]
            }
            return nil
        }
        return complete ? (status, body) : nil
    }
}

/// JavaScript-style truth of a decoded JSON value: null, false, 0 and "" are false (a `Bool` may arrive as an
/// `NSNumber` on Linux).
public func truthy(_ value: Any?) -> Bool {
    switch value {
    case nil, is NSNull: return false
    case let bool as Bool: return bool
    case let number as NSNumber: return number.doubleValue != 0
    case let string as String: return !string.isEmpty
    default: return true
    }
}
