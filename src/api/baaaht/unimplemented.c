/* llm.v1.LLMService and tool.v1.ToolService: registered so that clients that load every file
 * of baaaht's API find them (reflection, health's "llm" and "tool"), and answered UNIMPLEMENTED
 * saying why: droverd is not a model gateway (upstream proxies LLMService to an llm-gateway
 * container) and runs no tool registry (baaaht's worker executes its tools itself). */
#include "api/baaaht/baaaht-internal.h"
#include "base/macro.h"
#include "baaaht/llm.pb-c.h"
#include "baaaht/tool.pb-c.h"

static void not_llm(struct grpc_call *call, const ProtobufCMessage *msg)
{
    (void)msg;
    if (!grpc_call_finished(call))
        grpc_call_finish(call, GRPC_UNIMPLEMENTED,
                         "%s: drover is not a model gateway; give baaaht's assistant an LLM "
                         "gateway of its own (BAAAHT_LLM_GATEWAY_URL)",
                         grpc_call_path(call));
}

static void not_tool(struct grpc_call *call, const ProtobufCMessage *msg)
{
    (void)msg;
    if (!grpc_call_finished(call))
        grpc_call_finish(call, GRPC_UNIMPLEMENTED,
                         "%s: drover keeps no tool registry; baaaht's workers run their tools "
                         "themselves (ExecuteTask runs programs)",
                         grpc_call_path(call));
}

#define U(svc, name, T, fn)                                                                        \
    {                                                                                              \
        name, GRPC_UNARY, &svc##__##T##__descriptor, fn, NULL, NULL, NULL                          \
    }
#define B(svc, name, T, fn)                                                                        \
    {                                                                                              \
        name, GRPC_BIDI, &svc##__##T##__descriptor, fn, NULL, NULL, NULL                           \
    }

static const struct grpc_method llm_methods[] = {
    B(llm__v1, "StreamLLM", stream_llmrequest, not_llm),
    U(llm__v1, "CompleteLLM", complete_llmrequest, not_llm),
    U(llm__v1, "ListModels", list_models_request, not_llm),
    U(llm__v1, "GetCapabilities", get_capabilities_request, not_llm),
    U(google__protobuf, "HealthCheck", empty, not_llm),
    U(google__protobuf, "GetStatus", empty, not_llm),
};

static const struct grpc_method tool_methods[] = {
    U(tool__v1, "RegisterTool", register_tool_request, not_tool),
    U(tool__v1, "UnregisterTool", unregister_tool_request, not_tool),
    U(tool__v1, "UpdateTool", update_tool_request, not_tool),
    U(tool__v1, "EnableTool", enable_tool_request, not_tool),
    U(tool__v1, "DisableTool", disable_tool_request, not_tool),
    U(tool__v1, "ListTools", list_tools_request, not_tool),
    U(tool__v1, "GetTool", get_tool_request, not_tool),
    U(tool__v1, "GetToolDefinition", get_tool_definition_request, not_tool),
    U(tool__v1, "ExecuteTool", execute_tool_request, not_tool),
    B(tool__v1, "StreamTool", stream_tool_request, not_tool),
    U(tool__v1, "CancelExecution", cancel_execution_request, not_tool),
    U(tool__v1, "GetExecutionStatus", get_execution_status_request, not_tool),
    U(tool__v1, "ListExecutions", list_executions_request, not_tool),
    U(google__protobuf, "HealthCheck", empty, not_tool),
    U(google__protobuf, "GetServiceStatus", empty, not_tool),
    U(tool__v1, "GetStats", get_stats_request, not_tool),
};

const struct grpc_service bh_llm_service = {
    "llm.v1.LLMService", llm_methods, ARRAY_SIZE(llm_methods), &llm__v1__llmservice__descriptor};
const struct grpc_service bh_tool_service = {"tool.v1.ToolService", tool_methods,
                                             ARRAY_SIZE(tool_methods),
                                             &tool__v1__tool_service__descriptor};
