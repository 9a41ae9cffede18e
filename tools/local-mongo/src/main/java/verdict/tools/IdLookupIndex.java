package verdict.tools;

import java.util.Set;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.bson.ObjectId;
import de.bwaldvogel.mongo.exception.KeyConstraintError;

/**
 * A backend's unique index that, on _id alone, also serves a query naming one _id and
 * more, as MongoDB's does. mongo-java-server uses an index only for a query on exactly
 * its keys: {_id: x, total: {$lte: n}} (a conditional update, Verdict's reservation)
 * scanned the whole collection, holding its lock, and matched every document; in a
 * bench with 1,000 counters a third of the server's CPU went to those scans, and on
 * disk (H2, where each document scanned is read and decoded, and nothing expires: the
 * server has no TTL) every reservation grew slower as counters accumulated. Here the
 * index finds the one document with that _id and the collection matches the whole
 * query against it (the same answer: a document that does not have that _id cannot
 * match the query). Everything else is the backend's own index, to which this one
 * hands each call: the memory and the H2 backend wrap theirs (IdLookupMemoryBackend,
 * DurableH2Backend).
 */
final class IdLookupIndex<P> extends Index<P> {

    private static final String ID = "_id";
    private static final Set<String> ID_ONLY = Set.of(ID);

    private final Index<P> index;

    IdLookupIndex(Index<P> index, boolean sparse) {
        super(index.getName(), index.getKeys(), sparse);
        this.index = index;
    }

    @Override
    public boolean canHandle(Document query) {
        return index.canHandle(query) || idEquality(query) != null;
    }

    @Override
    public Iterable<P> getPositions(Document query) {
        if (index.canHandle(query)) {
            return index.getPositions(query);
        }
        Document byId = idEquality(query);
        if (byId == null) {
            throw new IllegalStateException("the _id index cannot serve " + query);
        }
        return index.getPositions(byId);
    }

    /**
     * {_id: value} when the query asks, beside other conditions, for documents whose _id
     * equals one string, number or ObjectId; null otherwise (an operator, a regular
     * expression, an embedded document...: left to the collection as before).
     */
    private Document idEquality(Document query) {
        if (query.size() < 2 || !keySet().equals(ID_ONLY)) {
            return null;
        }
        Object value = query.get(ID);
        if (value instanceof String || value instanceof Number || value instanceof ObjectId) {
            return new Document(ID, value);
        }
        return null;
    }

    @Override
    public P getPosition(Document document) {
        return index.getPosition(document);
    }

    @Override
    public void checkAdd(Document document, MongoCollection<P> collection) {
        index.checkAdd(document, collection);
    }

    @Override
    public void add(Document document, P position, MongoCollection<P> collection) {
        index.add(document, position, collection);
    }

    @Override
    public P remove(Document document) {
        return index.remove(document);
    }

    @Override
    public long getCount() {
        return index.getCount();
    }

    @Override
    public boolean isEmpty() {
        return index.isEmpty();
    }

    @Override
    public long getDataSize() {
        return index.getDataSize();
    }

    @Override
    public void checkUpdate(Document oldDocument, Document newDocument, MongoCollection<P> collection) {
        index.checkUpdate(oldDocument, newDocument, collection);
    }

    @Override
    public void updateInPlace(Document oldDocument, Document newDocument, P position, MongoCollection<P> collection)
            throws KeyConstraintError {
        index.updateInPlace(oldDocument, newDocument, position, collection);
    }

    @Override
    public void drop() {
        index.drop();
    }

    @Override
    public boolean isUnique() {
        return index.isUnique();
    }
}
