-- A store written by Crossdesk's first release (schema 0), dumped with `sqlite3 FILE .dump`: three
-- chats played through its bot (one transferred to HR and waiting there, one waiting at the
-- Help Desk's options, one ended by the guest). tests/storage/test_sqlite_upgrade.py opens it.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    hops INTEGER NOT NULL,
    version INTEGER NOT NULL,
    metadata TEXT NOT NULL
);
INSERT INTO sessions VALUES('69e64fd39419421ab84aeb142c7dbdcc','a:1at-hr','helpdesk','transferred','2026-12-03T08:45:51.892324+00:00','2026-12-03T08:45:51.897006+00:00',0,4,'{"Guest.Id":"29:1megan","Guest.Name":"Megan Bowen","Guest.ChannelId":"msteams","Guest.IsNew":true,"Session.SessionId":"69e64fd39419421ab84aeb142c7dbdcc","Session.TenantId":"helpdesk","Session.TenantName":"Help Desk","Session.State":"transferred","Session.StartedUtc":"2026-12-03T08:45:51.892Z","Guest.Question":"My parental leave request is stuck","HelpDesk.Department":"hr","Session.TransferredTo.SessionId":"8ec7509e7dd247b48db9c6bcf2170f33","Session.TransferredTo.TenantId":"hr","Session.TransferredTo.TenantName":"Human Resources","Session.EndedUtc":"2026-12-03T08:45:51.897Z"}');
INSERT INTO sessions VALUES('8ec7509e7dd247b48db9c6bcf2170f33','a:1at-hr','hr','active','2026-12-03T08:45:51.897006+00:00',NULL,1,2,'{"Guest.Id":"29:1megan","Guest.Name":"Megan Bowen","Guest.ChannelId":"msteams","Guest.IsNew":true,"Guest.Question":"My parental leave request is stuck","HelpDesk.Department":"hr","Session.SessionId":"8ec7509e7dd247b48db9c6bcf2170f33","Session.TenantId":"hr","Session.TenantName":"Human Resources","Session.State":"active","Session.StartedUtc":"2026-12-03T08:45:51.897Z","Session.TransferredFrom.SessionId":"69e64fd39419421ab84aeb142c7dbdcc","Session.TransferredFrom.TenantId":"helpdesk","Session.TransferredFrom.TenantName":"Help Desk"}');
INSERT INTO sessions VALUES('0dcc740d3969430b8ace44437e2fb979','a:1at-route','helpdesk','active','2026-12-03T08:45:51.899195+00:00',NULL,0,3,'{"Guest.Id":"29:1megan","Guest.Name":"Megan Bowen","Guest.ChannelId":"msteams","Guest.IsNew":true,"Session.SessionId":"0dcc740d3969430b8ace44437e2fb979","Session.TenantId":"helpdesk","Session.TenantName":"Help Desk","Session.State":"active","Session.StartedUtc":"2026-12-03T08:45:51.899Z","Guest.Question":"VPN is down"}');
INSERT INTO sessions VALUES('22487f67dd154c288124eabf2cafd520','a:1ended','helpdesk','ended','2026-12-03T08:45:51.901801+00:00','2026-12-03T08:45:51.907388+00:00',0,4,'{"Guest.Id":"29:1megan","Guest.Name":"Megan Bowen","Guest.ChannelId":"msteams","Guest.IsNew":true,"Session.SessionId":"22487f67dd154c288124eabf2cafd520","Session.TenantId":"helpdesk","Session.TenantName":"Help Desk","Session.State":"ended","Session.StartedUtc":"2026-12-03T08:45:51.901Z","Guest.Question":"Payslip","Session.Status.Resolution":"ended by guest","Session.EndedUtc":"2026-12-03T08:45:51.907Z"}');
CREATE TABLE flow (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    stage_key TEXT NOT NULL,
    stage_type TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    at TEXT NOT NULL
);
INSERT INTO flow VALUES(1,'69e64fd39419421ab84aeb142c7dbdcc','greet','message','welcome','2026-12-03T08:45:51.893317+00:00');
INSERT INTO flow VALUES(2,'69e64fd39419421ab84aeb142c7dbdcc','ask','question','welcome','2026-12-03T08:45:51.893775+00:00');
INSERT INTO flow VALUES(3,'69e64fd39419421ab84aeb142c7dbdcc','route','options','welcome','2026-12-03T08:45:51.895541+00:00');
INSERT INTO flow VALUES(4,'69e64fd39419421ab84aeb142c7dbdcc','to_hr','tenant_transfer','welcome','2026-12-03T08:45:51.896944+00:00');
INSERT INTO flow VALUES(5,'8ec7509e7dd247b48db9c6bcf2170f33','hello','message','intake','2026-12-03T08:45:51.897722+00:00');
INSERT INTO flow VALUES(6,'8ec7509e7dd247b48db9c6bcf2170f33','detail','question','intake','2026-12-03T08:45:51.898150+00:00');
INSERT INTO flow VALUES(7,'0dcc740d3969430b8ace44437e2fb979','greet','message','welcome','2026-12-03T08:45:51.899779+00:00');
INSERT INTO flow VALUES(8,'0dcc740d3969430b8ace44437e2fb979','ask','question','welcome','2026-12-03T08:45:51.899945+00:00');
INSERT INTO flow VALUES(9,'0dcc740d3969430b8ace44437e2fb979','route','options','welcome','2026-12-03T08:45:51.900914+00:00');
INSERT INTO flow VALUES(10,'22487f67dd154c288124eabf2cafd520','greet','message','welcome','2026-12-03T08:45:51.904882+00:00');
INSERT INTO flow VALUES(11,'22487f67dd154c288124eabf2cafd520','ask','question','welcome','2026-12-03T08:45:51.905069+00:00');
INSERT INTO flow VALUES(12,'22487f67dd154c288124eabf2cafd520','route','options','welcome','2026-12-03T08:45:51.906256+00:00');
CREATE TABLE transcript (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    direction TEXT NOT NULL,
    at TEXT NOT NULL,
    activity_id TEXT,
    text TEXT,
    attachments TEXT NOT NULL,
    value TEXT
);
INSERT INTO transcript VALUES(1,'69e64fd39419421ab84aeb142c7dbdcc','out','2026-12-03T08:45:51.893732+00:00',NULL,'Hi Megan Bowen, welcome to the Help Desk. I''ll get you to the right team.','[]',NULL);
INSERT INTO transcript VALUES(2,'69e64fd39419421ab84aeb142c7dbdcc','out','2026-12-03T08:45:51.893865+00:00',NULL,'What do you need help with today?','[]',NULL);
INSERT INTO transcript VALUES(3,'69e64fd39419421ab84aeb142c7dbdcc','in','2026-12-03T08:45:51.895178+00:00','3','My parental leave request is stuck','[]',NULL);
INSERT INTO transcript VALUES(4,'69e64fd39419421ab84aeb142c7dbdcc','out','2026-12-03T08:45:51.895820+00:00',NULL,NULL,'[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","$schema":"http://adaptivecards.io/schemas/adaptive-card.json","version":"1.5","body":[{"type":"TextBlock","text":"Thanks. Which team should take this?","wrap":true}],"actions":[{"type":"Action.Submit","title":"IT Support","data":{"crossdesk":{"session":"69e64fd39419421ab84aeb142c7dbdcc","stage":"route","choice":"it"}}},{"type":"Action.Submit","title":"HR","data":{"crossdesk":{"session":"69e64fd39419421ab84aeb142c7dbdcc","stage":"route","choice":"hr"}}},{"type":"Action.Submit","title":"Legal","data":{"crossdesk":{"session":"69e64fd39419421ab84aeb142c7dbdcc","stage":"route","choice":"legal"}}}]}}]',NULL);
INSERT INTO transcript VALUES(5,'69e64fd39419421ab84aeb142c7dbdcc','in','2026-12-03T08:45:51.896666+00:00','5','HR','[]',NULL);
INSERT INTO transcript VALUES(6,'8ec7509e7dd247b48db9c6bcf2170f33','out','2026-12-03T08:45:51.897667+00:00',NULL,NULL,'[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","$schema":"http://adaptivecards.io/schemas/adaptive-card.json","version":"1.5","body":[{"type":"TextBlock","text":"You''re now with Human Resources","weight":"Bolder","size":"Medium","wrap":true},{"type":"TextBlock","text":"Help Desk passed your chat on, with everything you told us so far.","wrap":true,"isSubtle":true},{"type":"FactSet","facts":[{"title":"Your question","value":"My parental leave request is stuck"},{"title":"From","value":"Help Desk"},{"title":"To","value":"Human Resources"}]}]}}]',NULL);
INSERT INTO transcript VALUES(7,'8ec7509e7dd247b48db9c6bcf2170f33','out','2026-12-03T08:45:51.898122+00:00',NULL,'Hi Megan Bowen, this is Human Resources. Help Desk sent you over with your question: "My parental leave request is stuck"','[]',NULL);
INSERT INTO transcript VALUES(8,'8ec7509e7dd247b48db9c6bcf2170f33','out','2026-12-03T08:45:51.898246+00:00',NULL,'Is this about leave, pay, or something else? Tell us a little more.','[]',NULL);
INSERT INTO transcript VALUES(9,'0dcc740d3969430b8ace44437e2fb979','out','2026-12-03T08:45:51.899916+00:00',NULL,'Hi Megan Bowen, welcome to the Help Desk. I''ll get you to the right team.','[]',NULL);
INSERT INTO transcript VALUES(10,'0dcc740d3969430b8ace44437e2fb979','out','2026-12-03T08:45:51.900037+00:00',NULL,'What do you need help with today?','[]',NULL);
INSERT INTO transcript VALUES(11,'0dcc740d3969430b8ace44437e2fb979','in','2026-12-03T08:45:51.900694+00:00','3','VPN is down','[]',NULL);
INSERT INTO transcript VALUES(12,'0dcc740d3969430b8ace44437e2fb979','out','2026-12-03T08:45:51.901094+00:00',NULL,NULL,'[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","$schema":"http://adaptivecards.io/schemas/adaptive-card.json","version":"1.5","body":[{"type":"TextBlock","text":"Thanks. Which team should take this?","wrap":true}],"actions":[{"type":"Action.Submit","title":"IT Support","data":{"crossdesk":{"session":"0dcc740d3969430b8ace44437e2fb979","stage":"route","choice":"it"}}},{"type":"Action.Submit","title":"HR","data":{"crossdesk":{"session":"0dcc740d3969430b8ace44437e2fb979","stage":"route","choice":"hr"}}},{"type":"Action.Submit","title":"Legal","data":{"crossdesk":{"session":"0dcc740d3969430b8ace44437e2fb979","stage":"route","choice":"legal"}}}]}}]',NULL);
INSERT INTO transcript VALUES(13,'22487f67dd154c288124eabf2cafd520','out','2026-12-03T08:45:51.905042+00:00',NULL,'Hi Megan Bowen, welcome to the Help Desk. I''ll get you to the right team.','[]',NULL);
INSERT INTO transcript VALUES(14,'22487f67dd154c288124eabf2cafd520','out','2026-12-03T08:45:51.905153+00:00',NULL,'What do you need help with today?','[]',NULL);
INSERT INTO transcript VALUES(15,'22487f67dd154c288124eabf2cafd520','in','2026-12-03T08:45:51.906021+00:00','3','Payslip','[]',NULL);
INSERT INTO transcript VALUES(16,'22487f67dd154c288124eabf2cafd520','out','2026-12-03T08:45:51.906441+00:00',NULL,NULL,'[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","$schema":"http://adaptivecards.io/schemas/adaptive-card.json","version":"1.5","body":[{"type":"TextBlock","text":"Thanks. Which team should take this?","wrap":true}],"actions":[{"type":"Action.Submit","title":"IT Support","data":{"crossdesk":{"session":"22487f67dd154c288124eabf2cafd520","stage":"route","choice":"it"}}},{"type":"Action.Submit","title":"HR","data":{"crossdesk":{"session":"22487f67dd154c288124eabf2cafd520","stage":"route","choice":"hr"}}},{"type":"Action.Submit","title":"Legal","data":{"crossdesk":{"session":"22487f67dd154c288124eabf2cafd520","stage":"route","choice":"legal"}}}]}}]',NULL);
INSERT INTO transcript VALUES(17,'22487f67dd154c288124eabf2cafd520','in','2026-12-03T08:45:51.907112+00:00','5','end chat','[]',NULL);
INSERT INTO transcript VALUES(18,'22487f67dd154c288124eabf2cafd520','out','2026-12-03T08:45:51.907368+00:00',NULL,'You ended the chat with Help Desk. Send a message any time to start a new one.','[]',NULL);
CREATE TABLE bindings (
    conversation_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    reference TEXT
);
INSERT INTO bindings VALUES('a:1at-hr','8ec7509e7dd247b48db9c6bcf2170f33','{"user":{"id":"29:1megan","name":"Megan Bowen"},"bot":{"id":"28:bot","name":"Crossdesk"},"conversation":{"id":"a:1at-hr"},"channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/emea/"}');
INSERT INTO bindings VALUES('a:1at-route','0dcc740d3969430b8ace44437e2fb979','{"user":{"id":"29:1megan","name":"Megan Bowen"},"bot":{"id":"28:bot","name":"Crossdesk"},"conversation":{"id":"a:1at-route"},"channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/emea/"}');
INSERT INTO bindings VALUES('a:1ended','22487f67dd154c288124eabf2cafd520','{"user":{"id":"29:1megan","name":"Megan Bowen"},"bot":{"id":"28:bot","name":"Crossdesk"},"conversation":{"id":"a:1ended"},"channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/emea/"}');
CREATE TABLE transfers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    from_session_id TEXT NOT NULL UNIQUE REFERENCES sessions (id),
    to_session_id TEXT NOT NULL UNIQUE REFERENCES sessions (id),
    from_tenant_id TEXT NOT NULL,
    to_tenant_id TEXT NOT NULL,
    at TEXT NOT NULL,
    activity_id TEXT
);
INSERT INTO transfers VALUES(1,'a:1at-hr','69e64fd39419421ab84aeb142c7dbdcc','8ec7509e7dd247b48db9c6bcf2170f33','helpdesk','hr','2026-12-03T08:45:51.897006+00:00','5');
CREATE TABLE inbound (
    conversation_id TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (conversation_id, activity_id)
) WITHOUT ROWID;
INSERT INTO inbound VALUES('a:1at-hr','0','2026-12-03T08:45:51.891708+00:00');
INSERT INTO inbound VALUES('a:1at-hr','3','2026-12-03T08:45:51.895024+00:00');
INSERT INTO inbound VALUES('a:1at-hr','5','2026-12-03T08:45:51.896513+00:00');
INSERT INTO inbound VALUES('a:1at-route','0','2026-12-03T08:45:51.898968+00:00');
INSERT INTO inbound VALUES('a:1at-route','3','2026-12-03T08:45:51.900565+00:00');
INSERT INTO inbound VALUES('a:1ended','0','2026-12-03T08:45:51.901608+00:00');
INSERT INTO inbound VALUES('a:1ended','3','2026-12-03T08:45:51.905884+00:00');
INSERT INTO inbound VALUES('a:1ended','5','2026-12-03T08:45:51.907006+00:00');
CREATE TABLE state (
    key TEXT PRIMARY KEY,
    etag INTEGER NOT NULL,
    document TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO state VALUES('session/a%3A1at-hr/69e64fd39419421ab84aeb142c7dbdcc/dialog',2,'{"stack":{"$dialogState":[{"id":"pipeline:helpdesk:welcome","state":{"stage":"route"}}]}}');
INSERT INTO state VALUES('session/a%3A1at-hr/8ec7509e7dd247b48db9c6bcf2170f33/dialog',1,'{"stack":{"$dialogState":[{"id":"pipeline:hr:intake","state":{"stage":"detail"}}]}}');
INSERT INTO state VALUES('session/a%3A1at-route/0dcc740d3969430b8ace44437e2fb979/dialog',2,'{"stack":{"$dialogState":[{"id":"pipeline:helpdesk:welcome","state":{"stage":"route"}}]}}');
INSERT INTO state VALUES('session/a%3A1ended/22487f67dd154c288124eabf2cafd520/dialog',3,'{"stack":{"$dialogState":[]}}');
CREATE TABLE leases (
    conversation_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
) WITHOUT ROWID;
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('flow',12);
INSERT INTO sqlite_sequence VALUES('transcript',18);
INSERT INTO sqlite_sequence VALUES('transfers',1);
CREATE INDEX sessions_by_conversation ON sessions (conversation_id);
CREATE INDEX flow_by_session ON flow (session_id);
CREATE INDEX transcript_by_session ON transcript (session_id);
CREATE INDEX transfers_by_conversation ON transfers (conversation_id);
COMMIT;
