import Foundation
import HTTPTypes
@testable import HubModel
import HummingbirdTesting
import Testing

@testable import DabbaHub

/// Restaurants, menus and zones over HTTP: who may do what, browsing, paging and the error shape.
@Suite(.serialized) struct HTTPRestaurantsTests {
    static let zoneBody = #"""
        {"name":"IIT campus","polygon":[[87.3,22.3],[87.4,22.3],[87.4,22.4],[87.3,22.4],[87.3,22.3]],
         "deliveryFee":2500,"currency":"INR"}
        """#

    static func restaurantBody(
        name: String = "Dosa Plaza", lat: Double = 22.35, lon: Double = 87.35, owner: Int64? = nil
    )
        -> String
    {
        let ownerField = owner.map { #","ownerUserID":\#($0)"# } ?? ""
        return #"""
            {"name":"\#(name)","address":"Tech Market","location":{"lat":\#(lat),"lon":\#(lon)},"currency":"INR",
             "hours":{"timezone":"Asia/Kolkata","hours":{"mon":[["00:00","24:00"]],"tue":[["00:00","24:00"]],
             "wed":[["00:00","24:00"]],"thu":[["00:00","24:00"]],"fri":[["00:00","24:00"]],"sat":[["18:00","02:00"]],
             "sun":[["00:00","24:00"]]}}\#(ownerField)}
            """#
    }

    @Test func operatorSetsUpAndTheOwnerEditsTheMenu() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await h.addUser("op@example.com", role: .operator)
        let owner = try await h.addUser("owner@example.com", role: .restaurant)
        try await h.addUser("rival@example.com", role: .restaurant)
        try await h.addUser("c@example.com", role: .customer)
        try await h.run { client, _ in
            let op = try await client.login("op@example.com").0
            let own = try await client.login("owner@example.com").0
            let rival = try await client.login("rival@example.com").0
            let customer = try await client.login("c@example.com").0

            let zone = try await client.send(.post, "/v1/zones", token: op, json: Self.zoneBody)
            #expect(zone.status == .created, "\(zone.text)")
            let zoneID = try #require(zone.json?["id"] as? String)
            #expect((zone.json?["polygon"] as? [[Double]])?.count == 5 && zone.json?["active"] as? Bool == true)

            let created = try await client.send(
                .post, "/v1/restaurants", token: op, json: Self.restaurantBody(owner: owner.id))
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.json?["id"] as? String)
            #expect(id.hasPrefix("r-") && created.json?["zoneID"] as? String == zoneID)
            #expect(created.json?["ownerUserID"] as? Int == Int(owner.id) && created.json?["paused"] as? Bool == false)

            // The owner builds the menu.
            let section = try await client.send(
                .post, "/v1/restaurants/\(id)/menu/sections", token: own, json: #"{"name":"Dosas"}"#)
            #expect(section.status == .created, "\(section.text)")
            let sectionID = try #require(section.json?["id"] as? String)
            let item = try await client.send(
                .post, "/v1/restaurants/\(id)/menu/items", token: own,
                json: #"""
                    {"sectionID":"\#(sectionID)","name":"Masala dosa","description":"Crisp","price":12000,
                     "optionGroups":[{"name":"Chutney","required":true,"maxChoices":2,
                       "choices":[{"name":"Coconut"},{"name":"Tomato","price":500}]}]}
                    """#)
            #expect(item.status == .created, "\(item.text)")
            let itemID = try #require(item.json?["id"] as? String)
            #expect(item.json?["currency"] as? String == "INR" && item.json?["available"] as? Bool == true)
            let group = try #require((item.json?["optionGroups"] as? [JSONObject])?.first)
            #expect(
                group["required"] as? Bool == true && group["minChoices"] as? Int == 1
                    && group["maxChoices"] as? Int == 2)
            #expect((group["choices"] as? [JSONObject])?.map { $0["price"] as? Int } == [0, 500])

            let edited = try await client.send(
                .patch, "/v1/restaurants/\(id)/menu/items/\(itemID)", token: own,
                json: #"{"price":13000,"available":false}"#)
            #expect(
                edited.status == .ok && edited.json?["price"] as? Int == 13000
                    && edited.json?["available"] as? Bool == false)

            // Another restaurant user sees someone else's restaurant as unknown.
            for (method, path, body) in [
                (HTTPRequest.Method.patch, "/v1/restaurants/\(id)", #"{"name":"Mine now"}"#),
                (.post, "/v1/restaurants/\(id)/pause", nil),
                (.post, "/v1/restaurants/\(id)/menu/sections", #"{"name":"X"}"#),
                (.patch, "/v1/restaurants/\(id)/menu/items/\(itemID)", #"{"price":1}"#),
                (.delete, "/v1/restaurants/\(id)/menu/items/\(itemID)", nil),
                (.delete, "/v1/restaurants/\(id)/menu/sections/\(sectionID)", nil),
            ] as [(HTTPRequest.Method, String, String?)] {
                let response = try await client.send(method, path, token: rival, json: body)
                #expect(
                    response.status == .notFound && response.errorCode == "not_found",
                    "\(method) \(path): \(response.text)")
            }
            // Customers may not edit at all.
            let denied = try await client.send(.patch, "/v1/restaurants/\(id)", token: customer, json: #"{"name":"X"}"#)
            #expect(denied.status == .forbidden && denied.errorCode == "forbidden")

            // Anyone reads the menu; the edits stuck and the rival changed nothing.
            let menu = try await client.send(.get, "/v1/restaurants/\(id)/menu")
            #expect(menu.status == .ok && menu.json?["currency"] as? String == "INR")
            let sections = try #require(menu.json?["sections"] as? [JSONObject])
            let items = try #require(sections.first?["items"] as? [JSONObject])
            #expect(sections.first?["name"] as? String == "Dosas" && items.count == 1)
            #expect(items.first?["price"] as? Int == 13000 && items.first?["name"] as? String == "Masala dosa")
            let one = try await client.send(.get, "/v1/restaurants/\(id)/menu/items/\(itemID)", token: customer)
            #expect(one.status == .ok && one.json?["sectionID"] as? String == sectionID)
            // The owner id is shown to its owner and operators only.
            let asCustomer = try await client.send(.get, "/v1/restaurants/\(id)", token: customer)
            #expect(
                asCustomer.status == .ok && asCustomer.json?["ownerUserID"] == nil
                    && asCustomer.json?["name"] as? String == "Dosa Plaza")

            // Pause and unpause: paused restaurants are closed.
            let paused = try await client.send(.post, "/v1/restaurants/\(id)/pause", token: own)
            #expect(paused.json?["paused"] as? Bool == true && paused.json?["openNow"] as? Bool == false)
            let resumed = try await client.send(.post, "/v1/restaurants/\(id)/unpause", token: own)
            #expect(resumed.json?["paused"] as? Bool == false)
            #expect(try await h.store.restaurant(id: id)?.paused == false)

            // The owner's own restaurant (no ownerUserID needed), listed with owner=me.
            let mine = try await client.send(
                .post, "/v1/restaurants", token: own, json: Self.restaurantBody(name: "Second"))
            #expect(mine.status == .created && mine.json?["ownerUserID"] as? Int == Int(owner.id))
            let listed = try await client.send(.get, "/v1/restaurants?owner=me", token: own)
            #expect((listed.json?["restaurants"] as? [JSONObject])?.count == 2)
            let rivalList = try await client.send(.get, "/v1/restaurants?owner=me", token: rival)
            #expect((rivalList.json?["restaurants"] as? [JSONObject])?.isEmpty == true)

            // Deleting: the section must be empty first.
            let busy = try await client.send(.delete, "/v1/restaurants/\(id)/menu/sections/\(sectionID)", token: own)
            #expect(busy.status == .conflict && busy.errorCode == "conflict")
            #expect(
                try await client.send(.delete, "/v1/restaurants/\(id)/menu/items/\(itemID)", token: own).status
                    == .noContent)
            #expect(
                try await client.send(.delete, "/v1/restaurants/\(id)/menu/sections/\(sectionID)", token: op).status
                    == .noContent)
            let gone = try await client.send(.get, "/v1/restaurants/\(id)/menu/items/\(itemID)")
            #expect(gone.status == .notFound && gone.errorCode == "not_found")
        }
    }

    @Test func customersBrowseNearbyOpenAndMatchingRestaurantsPageByPage() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let owner = try await h.addUser("owner@example.com", role: .restaurant).id
        try await h.addUser("c@example.com", role: .customer)
        // 12 restaurants north of the customer, 100 m apart; every third closed (paused or no hours); one far away.
        for i in 0..<12 {
            let r = Restaurant(
                id: String(format: "r-%02d", i), name: i % 4 == 0 ? "Biryani House \(i)" : "Cafe \(i)", address: "Road",
                location: GeoPoint(lat: 22.3 + Double(i) * 0.0009, lon: 87.3), ownerUserID: owner, currency: "INR",
                paused: i % 3 == 1, hours: i % 3 == 2 ? .closed : .always)
            _ = try await h.store.createRestaurant(r)
        }
        _ = try await h.store.createRestaurant(
            Restaurant(
                id: "r-far", name: "Far Biryani", address: "Road", location: GeoPoint(lat: 22.6, lon: 87.3),
                ownerUserID: owner, currency: "INR", hours: .always))
        _ = try await h.store.createSection(restaurant: "r-05", id: "s-1", name: "Mains", position: nil)
        _ = try await h.store.createMenuItem(
            MenuItem(
                id: "i-1", restaurantID: "r-05", sectionID: "s-1", name: "Hyderabadi biryani", price: 1, currency: "INR"
            ))
        try await h.run { client, _ in
            let token = try await client.login("c@example.com").0
            // Every page of 5 near the customer: nearest first, no duplicates, all 12, then next = null.
            var ids: [String] = []
            var distances: [Double] = []
            var uri = "/v1/restaurants?lat=22.3&lon=87.3&radius_m=2000&limit=5"
            var pages = 0
            while true {
                let page = try await client.send(.get, uri, token: token)
                #expect(page.status == .ok, "\(page.text)")
                let list = try #require(page.json?["restaurants"] as? [JSONObject])
                ids += list.compactMap { $0["id"] as? String }
                distances += list.compactMap { $0["distanceM"] as? Double }
                pages += 1
                guard let next = page.json?["next"] as? String else {
                    #expect(page.json?["next"] is NSNull)
                    break
                }
                uri = "/v1/restaurants?lat=22.3&lon=87.3&radius_m=2000&limit=5&cursor=\(next)"
            }
            #expect(ids == (0..<12).map { String(format: "r-%02d", $0) } && pages == 3)
            #expect(distances == distances.sorted() && distances.count == 12)

            // Open now: paused and hour-less ones drop out (anonymous browsing works too).
            let open = try await client.send(
                .get, "/v1/restaurants?lat=22.3&lon=87.3&radius_m=2000&open_now=true&limit=100")
            let openIDs = (open.json?["restaurants"] as? [JSONObject])?.compactMap { $0["id"] as? String }
            #expect(openIDs == ["r-00", "r-03", "r-06", "r-09"])
            #expect((open.json?["restaurants"] as? [JSONObject])?.allSatisfy { $0["openNow"] as? Bool == true } == true)

            // q matches restaurant names and item names, case-insensitively, within the radius.
            let q = try await client.send(
                .get, "/v1/restaurants?lat=22.3&lon=87.3&radius_m=2000&q=BIRYANI", token: token)
            let qIDs = (q.json?["restaurants"] as? [JSONObject])?.compactMap { $0["id"] as? String }
            #expect(qIDs == ["r-00", "r-04", "r-05", "r-08"])
            let everywhere = try await client.send(.get, "/v1/restaurants?q=biryani&limit=2")
            #expect(
                (everywhere.json?["restaurants"] as? [JSONObject])?.count == 2 && everywhere.json?["next"] is String)
            let radius = try await client.send(.get, "/v1/restaurants?lat=22.3&lon=87.3&radius_m=250")
            #expect((radius.json?["restaurants"] as? [JSONObject])?.count == 3)
            // q's length as the document counts it (code points): 50 flags are 100, 51 are too many.
            let flag = "%F0%9F%87%AE%F0%9F%87%B3"
            let longest = try await client.send(.get, "/v1/restaurants?q=" + String(repeating: flag, count: 50))
            #expect(longest.status == .ok, "\(longest.text)")
            let tooLong = try await client.send(.get, "/v1/restaurants?q=" + String(repeating: flag, count: 51))
            #expect(tooLong.status == .badRequest, "\(tooLong.text)")
        }
    }

    @Test func zoneLookupAnswersTheServingZoneOrNotServed() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await h.addUser("op@example.com", role: .operator)
        try await h.run { client, _ in
            let op = try await client.login("op@example.com").0
            let created = try await client.send(.post, "/v1/zones", token: op, json: Self.zoneBody)
            let id = try #require(created.json?["id"] as? String)
            let hit = try await client.send(.get, "/v1/zones/lookup?lat=22.35&lon=87.35")
            #expect(hit.status == .ok && hit.json?["id"] as? String == id && hit.json?["deliveryFee"] as? Int == 2500)
            let edge = try await client.send(.get, "/v1/zones/lookup?lat=22.3&lon=87.35")
            #expect(edge.status == .ok, "boundary points are served: \(edge.text)")
            let miss = try await client.send(.get, "/v1/zones/lookup?lat=22.5&lon=87.35")
            #expect(miss.status == .unprocessableContent && miss.errorCode == "not_served")
            // Deactivated zones serve nothing; operators page through zones.
            let off = try await client.send(
                .patch, "/v1/zones/\(id)", token: op, json: #"{"active":false,"deliveryFee":3000}"#)
            #expect(
                off.status == .ok && off.json?["active"] as? Bool == false && off.json?["deliveryFee"] as? Int == 3000)
            #expect(try await client.send(.get, "/v1/zones/lookup?lat=22.35&lon=87.35").errorCode == "not_served")
            for i in 0..<3 {
                let body = Self.zoneBody.replacingOccurrences(of: "IIT campus", with: "Zone \(i)")
                #expect(try await client.send(.post, "/v1/zones", token: op, json: body).status == .created)
            }
            var seen: [String] = []
            var uri = "/v1/zones?limit=3"
            while true {
                let page = try await client.send(.get, uri, token: op)
                seen += (page.json?["zones"] as? [JSONObject])?.compactMap { $0["id"] as? String } ?? []
                guard let next = page.json?["next"] as? String else { break }
                uri = "/v1/zones?limit=3&cursor=\(next)"
            }
            #expect(seen.count == 4 && Set(seen).count == 4 && seen == seen.sorted())
            #expect(try await client.send(.get, "/v1/zones/\(id)", token: op).json?["name"] as? String == "IIT campus")
            #expect(try await client.send(.get, "/v1/zones/z-nope", token: op).status == .notFound)
        }
    }

    @Test func badInputsAnswerTheErrorShapeWithTheRightStatus() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await h.addUser("op@example.com", role: .operator)
        let owner = try await h.addUser("owner@example.com", role: .restaurant)
        let customer = try await h.addUser("c@example.com", role: .customer)
        try await h.run { client, _ in
            let op = try await client.login("op@example.com").0
            let own = try await client.login("owner@example.com").0
            let created = try await client.send(.post, "/v1/restaurants", token: own, json: Self.restaurantBody())
            let id = try #require(created.json?["id"] as? String)
            let section = try await client.send(
                .post, "/v1/restaurants/\(id)/menu/sections", token: own, json: #"{"name":"A"}"#)
            let sectionID = try #require(section.json?["id"] as? String)
            func item(name: String = "Idli", price: String = "5000", _ extra: String = "") -> String {
                #"{"sectionID":"\#(sectionID)","name":"\#(name)","price":\#(price)\#(extra)}"#
            }
            let body = Self.restaurantBody()
            let cases: [(HTTPRequest.Method, String, String?, String, Int, String)] = [
                (.post, "/v1/restaurants", "{not json", own, 400, "bad_request"),
                (.post, "/v1/restaurants", #"{"name":1}"#, own, 400, "bad_request"),
                (
                    .post, "/v1/restaurants", body.replacingOccurrences(of: "\"INR\"", with: "\"rupees\""), own, 422,
                    "invalid"
                ),
                (
                    .post, "/v1/restaurants", body.replacingOccurrences(of: "Asia/Kolkata", with: "Asia/Nowhere"), own,
                    422, "invalid"
                ),
                (
                    .post, "/v1/restaurants", body.replacingOccurrences(of: "\"18:00\"", with: "\"18:75\""), own, 422,
                    "invalid"
                ),
                (.post, "/v1/restaurants", body.replacingOccurrences(of: "22.35", with: "122.35"), own, 422, "invalid"),
                (.post, "/v1/restaurants", body.replacingOccurrences(of: "Dosa Plaza", with: ""), own, 422, "invalid"),
                (.post, "/v1/restaurants", body, op, 422, "invalid"),  // operators must name the owner
                (.post, "/v1/restaurants", Self.restaurantBody(owner: customer.id), op, 422, "invalid"),
                (.post, "/v1/restaurants", Self.restaurantBody(owner: owner.id + 100), own, 422, "invalid"),
                (.patch, "/v1/restaurants/r-nope", #"{"name":"X"}"#, op, 404, "not_found"),
                (.get, "/v1/restaurants/r-nope", nil, own, 404, "not_found"),
                (.get, "/v1/restaurants/r-nope/menu", nil, own, 404, "not_found"),
                (.post, "/v1/restaurants/\(id)/menu/items", item(price: "-1"), own, 422, "invalid"),
                (.post, "/v1/restaurants/\(id)/menu/items", item(price: "12.5"), own, 400, "bad_request"),
                (.post, "/v1/restaurants/\(id)/menu/items", item(price: #""5000""#), own, 400, "bad_request"),
                (.post, "/v1/restaurants/\(id)/menu/items", item(#","currency":"USD""#), own, 422, "invalid"),
                (
                    .post, "/v1/restaurants/\(id)/menu/items", item(name: String(repeating: "x", count: 101)), own, 422,
                    "invalid"
                ),
                (
                    .post, "/v1/restaurants/\(id)/menu/items", #"{"sectionID":"s-nope","name":"Idli","price":1}"#, own,
                    422, "invalid"
                ),
                (
                    .post, "/v1/restaurants/\(id)/menu/items",
                    item(#","optionGroups":[{"name":"Size","minChoices":2,"choices":[{"name":"S"}]}]"#), own, 422,
                    "invalid"
                ),
                (
                    .post, "/v1/restaurants/\(id)/menu/items",
                    item(#","optionGroups":[{"name":"Size","choices":[{"name":"S","price":-5}]}]"#), own, 422, "invalid"
                ),
                (.patch, "/v1/restaurants/\(id)/menu/items/i-nope", #"{"price":1}"#, own, 404, "not_found"),
                (.patch, "/v1/restaurants/\(id)", #"{"ownerUserID":1}"#, own, 422, "invalid"),
                (
                    .post, "/v1/zones", #"{"name":"Z","polygon":[[87,22],[88,22]],"deliveryFee":1,"currency":"INR"}"#,
                    op, 422, "invalid"
                ),
                (
                    .post, "/v1/zones",
                    #"{"name":"Z","polygon":[[87,22,1],[88,22],[88,23]],"deliveryFee":1,"currency":"INR"}"#, op, 422,
                    "invalid"
                ),
                (
                    .post, "/v1/zones", #"{"name":"Z","polygon":"square","deliveryFee":1,"currency":"INR"}"#, op, 400,
                    "bad_request"
                ),
                (.post, "/v1/zones", Self.zoneBody.replacingOccurrences(of: "2500", with: "-1"), op, 422, "invalid"),
                (.get, "/v1/zones/lookup?lat=22.3", nil, op, 400, "bad_request"),
                (.get, "/v1/zones/lookup?lat=91&lon=87", nil, op, 400, "bad_request"),
                (.get, "/v1/restaurants?limit=0", nil, own, 400, "bad_request"),
                (.get, "/v1/restaurants?lat=22&lon=87&cursor=%%%", nil, own, 400, "bad_request"),
                (
                    .get, "/v1/restaurants?cursor=\(RestaurantCursor(distance: 1, id: "r-1").encoded)", nil, own, 400,
                    "bad_request"
                ),
                (.get, "/v1/restaurants?radius_m=100", nil, own, 400, "bad_request"),
                (.get, "/v1/restaurants?lat=22&lon=87&open_now=maybe", nil, own, 400, "bad_request"),
                (.get, "/v1/restaurants?owner=me", nil, "", 401, "unauthorized"),
                (.get, "/v1/restaurants?owner=7", nil, own, 403, "forbidden"),
            ]
            for (method, path, body, token, status, code) in cases {
                let response = try await client.send(method, path, token: token.isEmpty ? nil : token, json: body)
                #expect(response.status.code == status, "\(method) \(path) \(body ?? ""): \(response.text)")
                #expect(response.errorCode == code, "\(method) \(path) \(body ?? ""): \(response.text)")
            }
            // Nothing half-written: one restaurant, one empty section.
            #expect(try await h.store.menu(restaurant: id)?.sections.map(\.items.count) == [0])
            #expect(try await h.store.restaurants(matching: RestaurantQuery(limit: 100)).count == 1)
        }
    }
}
