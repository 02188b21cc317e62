import Foundation

extension WebDriver.Session {
    /// Emulates a viewport `width`×`height` CSS pixels (a phone when `mobile`) through Chromium's DevTools protocol,
    /// so widths below the smallest window (360 px) are exact; the page re-lays out and gets a `resize` event.
    public func setViewport(width: Int, height: Int, mobile: Bool) async throws {
        let params: [String: Any] = [
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile,
        ]
        _ = try await driver.request(
            "POST", "/session/\(id)/goog/cdp/execute",
            body: ["cmd": "Emulation.setDeviceMetricsOverride", "params": params], timeout: 15)
    }

    /// A PNG of the viewport as it is now.
    public func screenshot() async throws -> Data {
        let value = try await driver.request("GET", "/session/\(id)/screenshot", timeout: 30)
        guard let base64 = value as? String, let png = Data(base64Encoded: base64) else {
            throw TestSupportError("WebDriver screenshot: no PNG in the answer")
        }
        return png
    }

    /// Writes `<name>-<width>.png` into `folder` for each width (in the order given; the viewport stays at the
    /// last), after `settle` runs at each width (e.g. to wait for a map to re-lay out). Returns the files written.
    @discardableResult
    public func screenshots(
        _ name: String, widths: [Int] = [360, 1280], into folder: URL,
        settle: @Sendable () async throws -> Void = {}
    ) async throws -> [URL] {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var written: [URL] = []
        for width in widths {
            try await setViewport(width: width, height: width < 600 ? 780 : 860, mobile: width < 600)
            try await execute("window.dispatchEvent(new Event('resize')); return true;")
            try await settle()
            let file = folder.appendingPathComponent("\(name)-\(width).png")
            try await screenshot().write(to: file)
            written.append(file)
        }
        return written
    }
}
