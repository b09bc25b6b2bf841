package org.mockito.junit.jupiter;

import java.util.Optional;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.commons.support.AnnotationSupport;
import org.mockito.Mockito;
import org.mockito.MockitoSession;
import org.mockito.quality.Strictness;

/**
 * Mockito's JUnit 5 extension, for machines whose Mockito comes without its
 * {@code mockito-junit-jupiter} artifact (Debian packages only {@code mockito-core}): before each
 * test, a Mockito session initialises the {@code @Mock}, {@code @Spy} and {@code @Captor} fields of
 * the test instance (and of its enclosing instances, for {@code @Nested} tests), with strict
 * stubs unless {@link MockitoSettings} says otherwise; after it, the session checks the stubbing,
 * as the upstream extension does. Mocks injected as test method parameters are not supported.
 */
public class MockitoExtension implements BeforeEachCallback, AfterEachCallback {
    private static final ExtensionContext.Namespace MOCKITO =
            ExtensionContext.Namespace.create("org.mockito");
    private static final String SESSION = "session";

    @Override
    public void beforeEach(ExtensionContext context) {
        Strictness strictness = settings(context)
                .map(MockitoSettings::strictness)
                .orElse(Strictness.STRICT_STUBS);
        Object[] instances = context.getRequiredTestInstances().getAllInstances().toArray();
        MockitoSession session = Mockito.mockitoSession()
                .initMocks(instances)
                .strictness(strictness)
                .startMocking();
        context.getStore(MOCKITO).put(SESSION, session);
    }

    @Override
    public void afterEach(ExtensionContext context) {
        MockitoSession session = context.getStore(MOCKITO).remove(SESSION, MockitoSession.class);
        if (session != null) {
            // A failed test's own failure is the news; stubbing problems are reported otherwise.
            session.finishMocking(context.getExecutionException().orElse(null));
        }
    }

    /** The nearest {@link MockitoSettings}: on the test class or a class enclosing it. */
    private static Optional<MockitoSettings> settings(ExtensionContext context) {
        for (Optional<ExtensionContext> current = Optional.of(context);
                current.isPresent();
                current = current.get().getParent()) {
            Optional<MockitoSettings> found = current.get().getTestClass()
                    .flatMap(type -> AnnotationSupport.findAnnotation(type, MockitoSettings.class));
            if (found.isPresent()) {
                return found;
            }
        }
        return Optional.empty();
    }
}
