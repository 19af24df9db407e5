"""FiftyOne App operator `@actionlens/search/search_videos`: the CLI's text → video search
(`python -m actionlens search`) from the App. It ranks the dataset's videos through a
lens with a text side and shows them in that order; the panel lists titles and scores.
Loaded by the App from FIFTYONE_PLUGINS_DIR (actionlens.publish.app.PLUGINS_DIR), never
imported by Airflow."""

import fiftyone.operators as foo
import fiftyone.operators.types as types


class SearchVideos(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="search_videos",
            label="actionlens: search videos by text",
            description="Rank videos for a text query through a lens with a text side",
        )

    def resolve_input(self, ctx):
        from actionlens.lenses import SPACES, searchable_lenses, text_side
        from actionlens.settings import get_settings

        inputs = types.Object()
        inputs.str("query", label="Query", description='e.g. "pour batter"', required=True)
        lenses = searchable_lenses(get_settings())
        choices = types.Dropdown(label="Lens")
        for name, spec in lenses.items():
            choices.add_choice(
                name,
                label=f"{name} ({spec.model_id})",
                description=SPACES.get(text_side(spec) or "", ""),
            )
        inputs.enum(
            "lens",
            choices.values(),
            default=next(iter(lenses), None),
            required=True,
            view=choices,
        )
        inputs.int("k", label="Videos", default=10, required=True)
        return types.Property(inputs, view=types.View(label="Search videos by text"))

    def execute(self, ctx):
        from actionlens.lenses import search_videos
        from actionlens.settings import get_settings

        result = search_videos(
            get_settings(),
            ctx.params.get("query") or "",
            k=int(ctx.params.get("k") or 10),
            lens=ctx.params.get("lens"),
            links=False,
        )
        ids = [r["video_id"] for r in result["results"]]
        ctx.ops.set_view(ctx.dataset.select_by("video_id", ids, ordered=True))
        return {
            "lens": f"{result['lens']} ({result['model_id']})",
            "searches": result["searches"],
            "video_ids": ids,
            "results": "\n".join(
                f"{r['score']:.3f}  {r['title'] or '(no title)'}  [{r['video_id']}]"
                for r in result["results"]
            ),
        }

    def resolve_output(self, ctx):
        outputs = types.Object()
        outputs.str("lens", label="Lens")
        outputs.str("searches", label="What it matches")
        outputs.str("results", label="Videos, best first", view=types.CodeView())
        return types.Property(outputs)


def register(plugin):
    plugin.register(SearchVideos)
