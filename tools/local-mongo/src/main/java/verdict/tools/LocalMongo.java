package verdict.tools;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.AbstractMongoBackend;

/**
 * local-mongo --port PORT [--dbpath DIR] [--exit-with-stdin] [--oplog]
 *
 * Listens on 127.0.0.1 only. With --dbpath the data persists in DIR (an H2 MVStore
 * file, committed to the file before each write is acknowledged, and synced to disk
 * too when the write asks to be journaled, so a kill -9 loses nothing
 * acknowledged), otherwise it lives in memory. For development and tests,
 * not production. Stops on SIGTERM/SIGINT. --port 0 picks a free
 * port. Prints one line "local-mongo listening on 127.0.0.1:PORT" once it accepts
 * connections, so a parent process can wait for it. --exit-with-stdin stops the
 * server when standard input closes, so a crashed parent leaves no orphan behind.
 * --oplog keeps an oplog, so that change streams work (as on a replica set); without
 * it the server refuses them, as a standalone MongoDB does.
 */
public final class LocalMongo {

    private static final MongoVersion MONGO_4_4 = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(4, 4, 0);
        }

        @Override
        public int getWireVersion() {
            return 9;
        }
    };

    private LocalMongo() {
    }

    public static void main(String[] args) throws Exception {
        // mongo-java-server logs every connection at INFO; keep only what needs attention.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel",
                System.getProperty("local-mongo.log", "warn"));
        // Command errors (duplicate keys from conditional upserts, by design) go back to
        // the client; the wire handler would also print each with a stack trace.
        System.setProperty("org.slf4j.simpleLogger.log.de.bwaldvogel.mongo.wire.MongoWireProtocolHandler", "off");
        System.setProperty("org.slf4j.simpleLogger.log.de.bwaldvogel.mongo.backend.AbstractMongoDatabase", "error");
        Integer port = null;
        String dbpath = null;
        boolean exitWithStdin = false;
        boolean oplog = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--port" -> port = parsePort(valueOf(args, ++i, "--port"));
                case "--dbpath" -> dbpath = valueOf(args, ++i, "--dbpath");
                case "--exit-with-stdin" -> exitWithStdin = true;
                case "--oplog" -> oplog = true;
                case "-h", "--help" -> {
                    System.out.println("usage: local-mongo --port PORT [--dbpath DIR] [--exit-with-stdin] [--oplog]");
                    return;
                }
                default -> fail("unknown argument: " + args[i]);
            }
        }
        if (port == null) {
            fail("--port PORT is required (0 picks a free port)");
        }

        // With --dbpath: H2's MVStore in that directory (data survives restarts and
        // kill -9: DurableH2Backend commits before acknowledging a write).
        // Without: mongo-java-server's memory backend, which keeps documents as
        // objects rather than serializing each one into an in-memory MVStore (about
        // twice as fast, which matters when it shares two cores with what it tests),
        // whose _id index also serves a query on one _id and more (IdLookupMemoryBackend).
        AbstractMongoBackend backend;
        if (dbpath != null) {
            Path dir = Path.of(dbpath);
            Files.createDirectories(dir);
            backend = new DurableH2Backend(dir.resolve("local-mongo.mv").toString());
        } else {
            backend = new IdLookupMemoryBackend();
        }

        // The official Node driver (6.x/7.6+) refuses servers below wire version 9
        // (MongoDB 4.4); mongo-java-server's newest profile reports 8. The commands
        // Verdict uses (CRUD, findAndModify, indexes) are the same at 4.4.
        backend.version(MONGO_4_4);
        if (oplog) {
            backend.enableOplog();
        }
        MongoServer server = new MongoServer(backend);
        server.bind("127.0.0.1", port);
        InetSocketAddress address = server.getLocalAddress();
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdown, "local-mongo-shutdown"));
        System.out.println("local-mongo listening on 127.0.0.1:" + address.getPort());
        System.out.flush();

        if (exitWithStdin) {
            Thread watcher = new Thread(() -> {
                drain(System.in);
                System.exit(0);
            }, "local-mongo-stdin");
            watcher.setDaemon(true);
            watcher.start();
        }
        Thread.currentThread().join();
    }

    private static void drain(InputStream in) {
        byte[] buffer = new byte[256];
        try {
            while (in.read(buffer) >= 0) {
                // discard; only the end of the stream matters
            }
        } catch (IOException ignored) {
            // a broken pipe means the parent is gone, same as end of stream
        }
    }

    private static String valueOf(String[] args, int i, String flag) {
        if (i >= args.length) {
            fail(flag + " needs a value");
        }
        return args[i];
    }

    private static int parsePort(String text) {
        try {
            int value = Integer.parseInt(text);
            if (value < 0 || value > 65535) {
                fail("--port must be between 0 and 65535");
            }
            return value;
        } catch (NumberFormatException e) {
            fail("--port must be a number: " + text);
            return -1;
        }
    }

    private static void fail(String message) {
        System.err.println("local-mongo: " + message);
        System.exit(2);
    }
}
