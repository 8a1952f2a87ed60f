import FERCore
import Foundation
import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// Whether a request carries the view's token.
enum Access: Equatable {
    case granted
    /// By `?token=`: the response sets the cookie, so that the page's later requests need no query.
    case grantedByQuery
    case denied

    static let cookie = "fer_stream_token"

    static func check(_ head: HTTPRequest, token: String?) -> Access {
        guard let token else { return .granted }
        if let auth = head.headerFields[.authorization], auth.hasPrefix("Bearer "), same(String(auth.dropFirst(7)), token) { return .granted }
        for header in head.headerFields[values: .cookie] {
            for part in header.split(separator: ";") {
                let kv = part.trimmingCharacters(in: .whitespaces)
                if kv.hasPrefix(cookie + "="), same(String(kv.dropFirst(cookie.count + 1)), token) { return .granted }
            }
        }
        if let path = head.path, let q = path.firstIndex(of: "?") {
            for part in path[path.index(after: q)...].split(separator: "&") where part.hasPrefix("token=") {
                let value = String(part.dropFirst(6)).removingPercentEncoding ?? ""
                if same(value, token) { return .grantedByQuery }
            }
        }
        return .denied
    }

    static func setCookie(_ token: String) -> String {
        "\(cookie)=\(token); Path=/; HttpOnly; SameSite=Strict"
    }

    /// Compares in time that depends only on the lengths.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var d: UInt8 = 0
        for i in x.indices { d |= x[i] ^ y[i] }
        return d == 0
    }
}

/// With a token: every request needs it, else 401.
struct TokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch Access.check(request.head, token: token) {
        case .granted: return try await next(request, context)
        case .grantedByQuery:
            var response = try await next(request, context)
            response.headers[.setCookie] = Access.setCookie(token ?? "")
            return response
        case .denied:
            return Routes.text("401: this live view needs its token (Authorization: Bearer TOKEN, or ?token=TOKEN)\n",
                               status: .unauthorized, extra: [.wwwAuthenticate: "Bearer"])
        }
    }
}

enum Routes {
    static func text(_ body: String, status: HTTPResponse.Status = .ok, type: String = "text/plain; charset=utf-8",
                     extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: type, .cacheControl: "no-store"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func add(to router: Router<BasicRequestContext>, hub: ViewerHub, options: LiveViewOptions) {
        router.get("/") { _, _ in text(Page.html, type: "text/html; charset=utf-8") }
        router.get("/healthz") { _, _ in text("ok\n") }
        router.get("/api/sources") { _, _ in text(hub.sourcesJSON(), type: "application/json") }
        router.get("/metrics") { _, _ in text(Metrics.text(hub), type: "text/plain; version=0.0.4; charset=utf-8") }
        router.get("/ws") { request, _ in
            // Only requests that were not upgraded reach this.
            if let (status, why) = PageSocket.refusal(request.head, hub: hub, options: options) { return text(why + "\n", status: status) }
            return text("a WebSocket upgrade is expected here\n", status: .badRequest)
        }
        router.get("/sources/:name/snapshot.jpg") { _, context in
            guard let source = context.parameters.get("name").flatMap(hub.source(named:)) else { return text("no such input\n", status: .notFound) }
            let (jpeg, jpegFrame, picture, frame) = source.state.withLock { ($0.jpeg, $0.jpegFrame, $0.picture, $0.frame) }
            var bytes = jpegFrame == frame ? jpeg : nil
            if bytes == nil, let picture { bytes = JPEGEncoder(quality: options.quality).encode(picture, maxWidth: options.maxWidth)?.bytes }
            guard let bytes else { return text("no frame of this input yet\n", status: .serviceUnavailable) }
            return Response(status: .ok, headers: [.contentType: "image/jpeg", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        router.get("/sources/:name/mjpeg") { _, context in
            guard let source = context.parameters.get("name").flatMap(hub.source(named:)) else { return text("no such input\n", status: .notFound) }
            guard let viewer = hub.add(isPage: false, watching: [source.id]) else {
                return text("\(hub.maxViewers) viewers already (--serve-viewers)\n", status: .serviceUnavailable)
            }
            let boundary = "ferstreamframe"
            return Response(status: .ok, headers: [.contentType: "multipart/x-mixed-replace; boundary=\(boundary)", .cacheControl: "no-store"],
                            body: ResponseBody { writer in
                defer { hub.remove(viewer) }
                for await _ in viewer.wakes {
                    for f in viewer.take().frames {
                        var part = ByteBuffer(string: "--\(boundary)\r\nContent-Type: image/jpeg\r\nContent-Length: \(f.jpeg.count)\r\n\r\n")
                        part.writeBytes(f.jpeg)
                        part.writeString("\r\n")
                        try await writer.write(part)
                    }
                    if source.state.withLock({ $0.ended }) { break }
                }
                try await writer.write(ByteBuffer(string: "--\(boundary)--\r\n"))
                try await writer.finish(nil)
            })
        }
    }
}

/// The page's one WebSocket: frames (binary, `FrameMessage`) and the inputs' stats (text) out;
/// `{"watch":[ids]}` or `{"watch":"all"}` in (at most 4 KiB a message: a larger one closes it).
enum PageSocket {
    typealias Handler = WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>

    /// Why a WebSocket request is refused, if it is: no token (401), another site's page (403), too many viewers (503).
    static func refusal(_ head: HTTPRequest, hub: ViewerHub, options: LiveViewOptions) -> (HTTPResponse.Status, String)? {
        if Access.check(head, token: options.token) == .denied { return (.unauthorized, "401: this live view needs its token") }
        if let origin = head.headerFields[.origin] {
            let host = origin.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first.map(String.init) ?? origin
            guard let authority = head.authority, host.lowercased() == authority.lowercased() else {
                return (.forbidden, "403: a page from \(origin) may not open this live view's WebSocket")
            }
        }
        if hub.viewerCount >= hub.maxViewers { return (.serviceUnavailable, "503: \(hub.maxViewers) viewers already (--serve-viewers)") }
        return nil
    }

    static func shouldUpgrade(_ head: HTTPRequest, hub: ViewerHub, options: LiveViewOptions) async throws -> ShouldUpgradeResult<Handler> {
        guard let path = head.path, path == "/ws" || path.hasPrefix("/ws?") else { return .dontUpgrade }
        guard refusal(head, hub: hub, options: options) == nil else { return .dontUpgrade }
        var headers = HTTPFields()
        if Access.check(head, token: options.token) == .grantedByQuery, let token = options.token { headers[.setCookie] = Access.setCookie(token) }
        return .upgrade(headers) { inbound, outbound, _ in
            try await serve(inbound, outbound, hub: hub)
        }
    }

    static func serve(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, hub: ViewerHub) async throws {
        guard let viewer = hub.add(isPage: true, watching: nil) else {
            try await outbound.close(.policyViolation, reason: "too many viewers")
            return
        }
        defer { hub.remove(viewer) }
        try await outbound.write(.text(hub.statusJSON()))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await message in inbound.messages(maxSize: 4096) {
                    guard case .text(let text) = message, let ids = watchList(text, count: hub.sources.count) else { continue }
                    hub.watch(viewer, ids)
                }
            }
            group.addTask {
                for await _ in viewer.wakes {
                    let (frames, status) = viewer.take()
                    if status { try await outbound.write(.text(hub.statusJSON())) }
                    for f in frames { try await outbound.write(.binary(f.buffer)) }
                }
            }
            _ = try await group.next()
            group.cancelAll()
        }
    }

    /// `{"watch":[0,2]}` or `{"watch":"all"}`; nil for anything else.
    static func watchList(_ text: String, count: Int) -> Set<Int>? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], let w = object["watch"] else { return nil }
        if let all = w as? String, all == "all" { return Set(0..<count) }
        guard let ids = w as? [Any] else { return nil }
        return Set(ids.compactMap { ($0 as? NSNumber)?.intValue })
    }
}
