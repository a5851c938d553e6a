# Trajectory streaming and weight sync between actors and learner ranks (issue 9): the real
# services on 127.0.0.1:0 with the actor's clients.
if(TARGET memr1_llm AND TARGET memr1_actor)
  memr1_add_test(learner_ingest_service_test
    SOURCES ingest_service_test.cc
    DEPS memr1::learner memr1::actor
    LABELS integration)

  memr1_add_test(learner_weight_sync_test
    SOURCES weight_sync_test.cc
    DEPS memr1::learner memr1::actor memr1::llm torch
    LABELS integration)
endif()

# Weight sync by broadcast: wire format, rendezvous over the Weights service, and the group
# threads, on an in-process group (NCCL itself needs GPUs: learner_nccl_test).
if(TARGET memr1_actor)
  memr1_add_test(learner_weight_broadcast_test
    SOURCES weight_broadcast_test.cc
    DEPS memr1::learner memr1::actor torch
    LABELS integration)
endif()
