use super::*;

/// Feeds `input` split at `cuts`, as separate reads; answers what actix-http would see.
fn read_through(input: &[u8], cuts: &[usize]) -> (Vec<u8>, HeadTracker) {
    let mut tracker = HeadTracker::default();
    let mut out = input.to_vec();
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        tracker.scan(&mut out[from..cut]);
        from = cut;
    }
    (out, tracker)
}

fn seen(input: &str) -> String {
    String::from_utf8(read_through(input.as_bytes(), &[]).0).unwrap()
}

#[test]
fn crlf_heads_pass_untouched_one_after_another() {
    let two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    let (out, tracker) = read_through(two.as_bytes(), &[]);
    assert_eq!(out, two.as_bytes());
    assert!(!tracker.is_off());
}

#[test]
fn a_bare_lf_ending_the_request_line_becomes_nul() {
    assert_eq!(
        seen("GET / HTTP/1.1\nHost: x\r\n\r\n"),
        "GET / HTTP/1.1\0Host: x\r\n\r\n"
    );
}

#[test]
fn a_bare_lf_ending_a_header_line_becomes_nul() {
    assert_eq!(
        seen("GET / HTTP/1.1\r\nHost: x\nX-Y: 1\r\n\r\n"),
        "GET / HTTP/1.1\r\nHost: x\0X-Y: 1\r\n\r\n"
    );
}

#[test]
fn a_bare_lf_as_the_blank_line_becomes_nul() {
    assert_eq!(
        seen("GET / HTTP/1.1\r\nHost: x\r\n\n"),
        "GET / HTTP/1.1\r\nHost: x\r\n\0"
    );
}

#[test]
fn a_bare_lf_before_the_request_line_becomes_nul() {
    assert_eq!(seen("\nGET / HTTP/1.1\r\n\r\n"), "\0GET / HTTP/1.1\r\n\r\n");
}

#[test]
fn empty_crlf_lines_before_the_request_line_are_allowed() {
    let input = "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\nHost: x\r\n\r\n";
    assert!(seen(input).ends_with("GET /b HTTP/1.1\0Host: x\r\n\r\n"));
}

#[test]
fn only_the_first_bare_lf_is_changed_and_the_rest_passes_through() {
    assert_eq!(
        seen("GET / HTTP/1.1\nHost: x\n\n"),
        "GET / HTTP/1.1\0Host: x\n\n"
    );
}

#[test]
fn a_content_length_body_is_never_changed_and_the_next_head_is_checked() {
    let input = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\na\nb\n\
                 GET /b HTTP/1.1\nHost: x\r\n\r\n";
    assert_eq!(
        seen(input),
        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\na\nb\n\
         GET /b HTTP/1.1\0Host: x\r\n\r\n"
    );
}

#[test]
fn a_chunked_body_is_never_changed_and_the_next_head_is_checked() {
    let input = "POST /a HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\n\r\n\
                 3\r\n\n\n\n\r\n0\r\n\r\nGET /b HTTP/1.1\nHost: x\r\n\r\n";
    let out = seen(input);
    assert!(out.contains("3\r\n\n\n\n\r\n0\r\n\r\n"), "{out:?}");
    assert!(out.ends_with("GET /b HTTP/1.1\0Host: x\r\n\r\n"), "{out:?}");
}

#[test]
fn every_split_into_two_reads_gives_the_same_bytes() {
    let input = "GET /a HTTP/1.1\r\nHost: x\r\nCookie: a=b\r\n\r\n\
                 POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n\n\n\n\
                 PUT /d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n\n\n\r\n0\r\n\r\n\
                 GET /e HTTP/1.1\r\nHost: x\nX: 1\r\n\r\n";
    let whole = read_through(input.as_bytes(), &[]).0;
    assert_eq!(whole.iter().filter(|b| **b == 0).count(), 1);
    for cut in 0..=input.len() {
        for second in cut..=input.len().min(cut + 7) {
            let (out, _) = read_through(input.as_bytes(), &[cut, second]);
            assert_eq!(out, whole, "reads split at {cut} and {second}");
        }
    }
}

#[test]
fn a_websocket_upgrade_or_connect_stops_the_tracking() {
    for head in [
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        "CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let input = format!("{head}raw\nbytes\n");
        let (out, tracker) = read_through(input.as_bytes(), &[]);
        assert_eq!(out, input.as_bytes());
        assert!(tracker.is_off());
    }
}

#[test]
fn framing_actix_refuses_is_refused_on_the_blank_line() {
    for head in [
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
        "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
    ] {
        let (out, tracker) = read_through(head.as_bytes(), &[]);
        assert!(out.ends_with(b"\r\n\r\0"), "{head:?}");
        assert!(tracker.is_off(), "{head:?}");
    }
}

#[test]
fn a_bare_lf_in_the_trailer_section_is_trailer_content_as_actix_reads_it() {
    let post = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    let body = "0\r\n\nX\n\r\n\r\n";
    let next = "GET /b HTTP/1.1\r\nHost: x\r\nX-Note: a\nCookie: planted\r\n\r\n";
    let out = seen(&format!("{post}{body}{next}"));
    assert_eq!(
        out,
        format!("{post}{body}GET /b HTTP/1.1\r\nHost: x\r\nX-Note: a\0Cookie: planted\r\n\r\n")
    );
}

#[test]
fn a_head_inside_the_trailer_section_is_not_taken_for_a_request() {
    let post = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    let body = "3\r\na=1\r\n0\r\nX: a\n\nGET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 70\r\n\r\n";
    let next = "GET /smuggled HTTP/1.1\nHost: x\n\n";
    let out = seen(&format!("{post}{body}{next}"));
    assert_eq!(
        out,
        format!("{post}{body}GET /smuggled HTTP/1.1\0Host: x\n\n")
    );
}

#[test]
fn chunk_framing_actix_fails_on_stops_the_tracking() {
    for body in ["3\na=1\r\n", "g\r\n", "3\r\na=1\n0\r\n\r\n", "3;\x01\r\n"] {
        let input =
            format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
        let (out, tracker) = read_through(input.as_bytes(), &[]);
        assert_eq!(out, input.as_bytes(), "{body:?}");
        assert!(tracker.is_off(), "{body:?}");
    }
}

#[test]
fn a_head_longer_than_followed_is_refused_even_when_complete() {
    let mut head = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', MAX_HEAD));
    head.extend_from_slice(b"\r\n\r\n");
    let (out, tracker) = read_through(&head, &[]);
    assert_eq!(out.iter().filter(|b| **b == 0).count(), 1);
    assert!(tracker.is_off());
}

#[test]
fn a_head_growing_past_the_limit_without_a_line_end_is_refused() {
    let mut tracker = HeadTracker::default();
    let mut line = b"GET / HTTP/1.1\r\nX: ".to_vec();
    tracker.scan(&mut line);
    let mut nuls = 0;
    for _ in 0..9 {
        let mut chunk = vec![b'a'; 16 * 1024];
        tracker.scan(&mut chunk);
        nuls += chunk.iter().filter(|b| **b == 0).count();
    }
    assert_eq!(nuls, 1);
    assert!(tracker.is_off());
}

#[test]
fn a_long_line_spanning_reads_is_not_copied_whole() {
    let mut tracker = HeadTracker::default();
    tracker.scan(&mut b"GET / HTTP/1.1\r\nCookie: ".to_vec());
    for _ in 0..16 {
        tracker.scan(&mut vec![b'c'; 4096]);
    }
    assert!(tracker.line.start.len() <= KEPT_LINE);
    assert!(tracker.line.end.len() <= KEPT_END);
    tracker.scan(&mut b"\r\n\r\n".to_vec());
    assert!(!tracker.is_off() && !tracker.in_head());
}

#[test]
fn a_long_request_line_spanning_reads_still_shows_its_version() {
    let target = "/".repeat(2000);
    let input = format!(
        "POST {target} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n\n\r\n0\r\n\r\n\
         GET / HTTP/1.1\nHost: x\r\n\r\n"
    );
    for cut in [10, 1000, 2005, 2010] {
        let (out, _) = read_through(input.as_bytes(), &[cut]);
        assert_eq!(out.iter().filter(|b| **b == 0).count(), 1, "cut at {cut}");
        assert!(
            out.ends_with(b"GET / HTTP/1.1\0Host: x\r\n\r\n"),
            "cut at {cut}"
        );
    }
}

#[test]
fn a_framing_header_too_long_to_follow_is_refused() {
    let mut tracker = HeadTracker::default();
    tracker.scan(&mut b"POST / HTTP/1.1\r\nContent-Length: ".to_vec());
    tracker.scan(&mut vec![b' '; 1000]);
    let mut end = b"5\r\n\r\n".to_vec();
    tracker.scan(&mut end);
    assert_eq!(end, b"5\r\0\r\n");
    assert!(tracker.is_off());
}
