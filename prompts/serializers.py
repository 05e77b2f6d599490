"""Request and response shapes of the prompt registry API. Serializers check types only: the
services validate content (templates, model settings, labels) so the admin and CLI get the same rules."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer

from llmops.core.api import serializers
from prompts.models import Prompt, PromptLabel, PromptLabelEvent, PromptVersion
from prompts.selectors import PRODUCTION, Resolution
from prompts.templating import ROLES
from prompts.validation import MAX_COMMIT_MESSAGE_CHARS, MAX_REASON_CHARS

CONTENT_FIELDS = ("template", "kind", "messages", "template_format", "model_settings", "variables_schema")


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLES)
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)


class ModelParametersSerializer(serializers.Serializer):
    temperature = serializers.FloatField(required=False)
    max_tokens = serializers.IntegerField(required=False, min_value=1)
    top_p = serializers.FloatField(required=False)
    stop = serializers.ListField(child=serializers.CharField(), required=False)
    seed = serializers.IntegerField(required=False)


class ModelSettingsSerializer(serializers.Serializer):
    model_endpoint = serializers.CharField(required=False, help_text="name of a model endpoint of the project")
    parameters = ModelParametersSerializer(required=False, help_text="generation parameters (JSON scalars or lists)")


@extend_schema_field(MessageSerializer(many=True))
class MessagesField(serializers.ListField):
    """Role/content objects; their shape is checked by the template engine, which names the bad one."""

    child = serializers.DictField()


@extend_schema_field(ModelSettingsSerializer)
class ModelSettingsField(serializers.JSONField):
    pass


@extend_schema_field({"type": "object", "additionalProperties": {}, "nullable": True})
class JSONSchemaField(serializers.JSONField):
    pass


class ActorSerializer(serializers.Serializer):
    user = serializers.CharField(allow_null=True, help_text="username of the person, if a person acted")
    api_key_prefix = serializers.CharField(allow_null=True, help_text="prefix of the API key, if a key acted")


def _actor(user, key) -> dict | None:
    if user is None and key is None:
        return None
    return {"user": user.get_username() if user else None, "api_key_prefix": key.prefix if key else None}


class VersionContentSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=PromptVersion.Kind.choices, default=PromptVersion.Kind.TEXT)
    template_format = serializers.ChoiceField(
        choices=PromptVersion.TemplateFormat.choices, default=PromptVersion.TemplateFormat.FSTRING
    )
    # Whitespace is part of a prompt: never trimmed.
    template = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, default="")
    messages = MessagesField(required=False, allow_null=True, default=None)
    model_settings = ModelSettingsField(required=False, allow_null=True, default=None)
    variables_schema = JSONSchemaField(required=False, allow_null=True, default=None)
    commit_message = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=MAX_COMMIT_MESSAGE_CHARS
    )
    labels = serializers.ListField(
        child=serializers.CharField(), required=False, default=list, help_text="labels to point at this version"
    )


class PromptCreateSerializer(VersionContentSerializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class PromptUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)

    def validate(self, attrs: dict) -> dict:
        content = [field for field in (*CONTENT_FIELDS, "name") if field in self.initial_data]
        if content:
            raise serializers.ValidationError(
                {
                    content[0]: [
                        f"'{content[0]}' cannot be changed here: content changes are new versions "
                        "(POST /api/v1/prompts/{prompt_id}/versions) and names are fixed"
                    ]
                },
                code="immutable",
            )
        return attrs


class PromptVersionSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()
    labels = serializers.SerializerMethodField()

    class Meta:
        model = PromptVersion
        fields = (
            "id",
            "version",
            "kind",
            "template_format",
            "variables",
            "commit_message",
            "author",
            "labels",
            "content_hash",
            "created_at",
        )
        read_only_fields = fields

    @extend_schema_field(ActorSerializer(allow_null=True))
    def get_author(self, version: PromptVersion) -> dict | None:
        return _actor(version.created_by, version.created_by_key)

    def get_labels(self, version: PromptVersion) -> list[str]:
        return sorted(label.name for label in version.labels.all())


class PromptVersionDetailSerializer(PromptVersionSerializer):
    prompt_id = serializers.UUIDField(source="prompt.id", read_only=True)
    prompt_name = serializers.CharField(source="prompt.name", read_only=True)
    messages = serializers.SerializerMethodField()
    model_settings = serializers.SerializerMethodField()
    variables_schema = serializers.SerializerMethodField()

    class Meta(PromptVersionSerializer.Meta):
        fields = (
            *PromptVersionSerializer.Meta.fields,
            "prompt_id",
            "prompt_name",
            "template",
            "messages",
            "model_settings",
            "variables_schema",
        )
        read_only_fields = fields

    @extend_schema_field(MessageSerializer(many=True))
    def get_messages(self, version: PromptVersion) -> list:
        return version.messages

    @extend_schema_field(ModelSettingsSerializer)
    def get_model_settings(self, version: PromptVersion) -> dict:
        return version.model_settings

    @extend_schema_field({"type": "object", "additionalProperties": True, "nullable": True})
    def get_variables_schema(self, version: PromptVersion) -> dict | None:
        return version.variables_schema


class PromptSerializer(serializers.ModelSerializer):
    latest_version = serializers.IntegerField(source="latest_version_number", read_only=True)
    active_version = serializers.SerializerMethodField(help_text="the version labelled production, if any")
    labels = serializers.SerializerMethodField(help_text="label name -> version number")

    class Meta:
        model = Prompt
        fields = (
            "id",
            "name",
            "description",
            "tags",
            "latest_version",
            "active_version",
            "labels",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_active_version(self, prompt: Prompt) -> int | None:
        return self.get_labels(prompt).get(PRODUCTION)

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"}})
    def get_labels(self, prompt: Prompt) -> dict[str, int]:
        return {label.name: label.version.version for label in prompt.labels.all()}


class PromptDetailSerializer(PromptSerializer):
    latest = serializers.SerializerMethodField(help_text="the newest version")

    class Meta(PromptSerializer.Meta):
        fields = (*PromptSerializer.Meta.fields, "latest")
        read_only_fields = fields

    @extend_schema_field(PromptVersionDetailSerializer(allow_null=True))
    def get_latest(self, prompt: Prompt) -> dict | None:
        version = (
            PromptVersion.objects.filter(prompt=prompt, version=prompt.latest_version_number)
            .select_related("prompt", "created_by", "created_by_key")
            .prefetch_related("labels")
            .first()
        )
        return PromptVersionDetailSerializer(version).data if version else None


class VersionSelectorSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False, min_value=1)
    label = serializers.CharField(required=False, help_text="default: production, else the latest version")

    def validate(self, attrs: dict) -> dict:
        if "version" in attrs and "label" in attrs:
            raise serializers.ValidationError({"version": ["give either a version or a label, not both"]})
        return attrs


@extend_schema_serializer(component_name="Render")
class RenderRequestSerializer(VersionSelectorSerializer):
    variables = serializers.DictField(required=False, default=dict)


class RenderResponseSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=PromptVersion.Kind.choices)
    text = serializers.CharField(required=False, help_text="text prompts")
    messages = MessageSerializer(many=True, required=False, help_text="chat prompts")


class PromptLabelSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.version", read_only=True)
    version_id = serializers.UUIDField(source="version.id", read_only=True)

    class Meta:
        model = PromptLabel
        fields = ("name", "version", "version_id", "updated_at")
        read_only_fields = fields


class LabelMoveSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_REASON_CHARS)


class RollbackSerializer(serializers.Serializer):
    label = serializers.CharField(required=False, default=PRODUCTION)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_REASON_CHARS)


class PromptLabelEventSerializer(serializers.ModelSerializer):
    from_version = serializers.IntegerField(source="from_version.version", allow_null=True, read_only=True)
    to_version = serializers.IntegerField(source="to_version.version", allow_null=True, read_only=True)
    actor = serializers.SerializerMethodField()

    class Meta:
        model = PromptLabelEvent
        fields = ("id", "label", "from_version", "to_version", "actor", "reason", "created_at")
        read_only_fields = fields

    @extend_schema_field(ActorSerializer(allow_null=True))
    def get_actor(self, event: PromptLabelEvent) -> dict | None:
        return _actor(event.actor, event.actor_key)


class ResolvedVersionSerializer(serializers.Serializer):
    """The body of GET /prompts/by-name/{name}, built from a cached Resolution."""

    prompt_id = serializers.UUIDField()
    prompt = serializers.CharField(help_text="prompt name")
    version = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=PromptVersion.Kind.choices)
    template_format = serializers.ChoiceField(choices=PromptVersion.TemplateFormat.choices)
    template = serializers.CharField()
    messages = MessageSerializer(many=True)
    model_settings = ModelSettingsSerializer()
    variables = serializers.ListField(child=serializers.CharField())
    variables_schema = JSONSchemaField(allow_null=True)
    labels = serializers.ListField(child=serializers.CharField())
    content_hash = serializers.CharField()
    commit_message = serializers.CharField()
    created_at = serializers.DateTimeField()

    @staticmethod
    def from_resolution(resolution: Resolution) -> dict:
        version = resolution.version
        return {
            "prompt_id": str(version.prompt_id),
            "prompt": version.prompt.name,
            "version": version.version,
            "kind": version.kind,
            "template_format": version.template_format,
            "template": version.template,
            "messages": version.messages,
            "model_settings": version.model_settings,
            "variables": version.variables,
            "variables_schema": version.variables_schema,
            "labels": list(resolution.labels),
            "content_hash": version.content_hash,
            "commit_message": version.commit_message,
            "created_at": serializers.DateTimeField().to_representation(version.created_at),
        }


class ChangeSerializer(serializers.Serializer):
    to = serializers.JSONField()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.JSONField()  # `from` is a Python keyword
        return fields


class MappingChangesSerializer(serializers.Serializer):
    added = serializers.DictField(child=serializers.JSONField())
    removed = serializers.DictField(child=serializers.JSONField())
    changed = serializers.DictField(child=ChangeSerializer())


class MessageChangeSerializer(ChangeSerializer):
    index = serializers.IntegerField()
    change = serializers.ChoiceField(choices=["added", "removed", "changed"])


class VariableChangesSerializer(serializers.Serializer):
    added = serializers.ListField(child=serializers.CharField())
    removed = serializers.ListField(child=serializers.CharField())


class VersionDiffSerializer(serializers.Serializer):
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    identical = serializers.BooleanField(help_text="same content hash")
    whitespace_only = serializers.BooleanField(
        help_text="the texts differ only in whitespace at line ends or line-ending style (marked in unified_diff)"
    )
    unified_diff = serializers.CharField(help_text="difflib unified diff of the templates (chat: of the messages)")
    kind = ChangeSerializer(allow_null=True)
    template_format = ChangeSerializer(allow_null=True)
    messages = MessageChangeSerializer(many=True)
    model_settings = MappingChangesSerializer()
    variables = VariableChangesSerializer()
    variables_schema = MappingChangesSerializer()
